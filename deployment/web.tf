# Optional hosting of the browser client (var.web_hosting): a private S3 bucket that only this
# CloudFront distribution may read (origin access control), HTTPS only, served with the page's
# Content-Security-Policy. Terraform creates the place; `util web-deploy ENV` uploads the page and its
# config.json (the websocket_url), as `util lambda-deploy` ships the function's code.
#
# AWS: https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html

locals {
  web_count       = var.web_hosting ? 1 : 0
  web_bucket_name = "${local.name}-web-${data.aws_caller_identity.current.account_id}"

  # The page's policy: util/browser/page.py CONTENT_SECURITY_POLICY, byte for byte
  # (tests/terraform/test_web.py holds them equal). connect-src allows any ws:/wss: URL because the page
  # connects wherever its user points it.
  web_content_security_policy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

  # AWS managed cache policy "Managed-CachingOptimized"; `util web-deploy` invalidates what it changes.
  # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/using-managed-cache-policies.html
  web_cache_policy_id = "658327ea-f89d-4fab-a63d-7e88639e58f6"

  web_origin_id = "page"
  # A separate local so that a test's override file can leave the policy out (moto has no such API).
  web_response_headers_policy_id = one(aws_cloudfront_response_headers_policy.web[*].id)
}

resource "aws_s3_bucket" "web" {
  #checkov:skip=CKV_AWS_18:The page's bucket is read by CloudFront alone; its requests would be logged by CloudFront standard logs, and the bucket holds only the public page's files.
  #checkov:skip=CKV_AWS_21:Versioning keeps nothing worth having: the page is rebuilt from the repository by util web-deploy at any commit.
  #checkov:skip=CKV_AWS_144:Cross-region replication of a static page that CloudFront caches at the edge adds cost and no availability.
  #checkov:skip=CKV_AWS_145:SSE-S3 encrypts the page at rest; with SSE-KMS CloudFront would need a key policy and KMS calls for public files.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to a page upload; util web-deploy invalidates CloudFront itself.
  #checkov:skip=CKV2_AWS_61:The bucket holds the current page only; util web-deploy deletes files that left it, so no lifecycle rule has work to do.
  count = local.web_count

  bucket        = local.web_bucket_name
  force_destroy = var.force_destroy

  lifecycle {
    precondition {
      condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", local.web_bucket_name))
      error_message = "The bucket name \"${local.web_bucket_name}\" is not valid for S3: the workspace name must be lower-case letters, digits and '-', and short enough that the name stays within 63 characters."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "web" {
  count  = local.web_count
  bucket = aws_s3_bucket.web[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "web" {
  count  = local.web_count
  bucket = aws_s3_bucket.web[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "web" {
  count  = local.web_count
  bucket = aws_s3_bucket.web[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

data "aws_iam_policy_document" "web_bucket" {
  count = local.web_count

  statement {
    sid       = "CloudFrontReadsThePage"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.web[0].arn}/*"]

    principals {
      type        = "Service"
      identifiers = ["cloudfront.amazonaws.com"]
    }

    # Only this distribution, signing through its origin access control (confused-deputy guard).
    condition {
      test     = "StringEquals"
      variable = "AWS:SourceArn"
      values   = [aws_cloudfront_distribution.web[0].arn]
    }
  }

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.web[0].arn,
      "${aws_s3_bucket.web[0].arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "web" {
  count  = local.web_count
  bucket = aws_s3_bucket.web[0].id
  policy = data.aws_iam_policy_document.web_bucket[0].json

  depends_on = [aws_s3_bucket_public_access_block.web]
}

resource "aws_cloudfront_origin_access_control" "web" {
  count = local.web_count

  name                              = "${local.name}-web"
  description                       = "CloudFront reads the ${local.name} page from its private bucket"
  origin_access_control_origin_type = "s3"
  signing_behavior                  = "always"
  signing_protocol                  = "sigv4"
}

resource "aws_cloudfront_response_headers_policy" "web" {
  count = local.web_count

  name    = "${local.name}-web"
  comment = "Security headers of the ${local.name} page (util/browser/page.py SECURITY_HEADERS)"

  security_headers_config {
    content_security_policy {
      content_security_policy = local.web_content_security_policy
      override                = true
    }
    content_type_options {
      override = true
    }
    frame_options {
      frame_option = "DENY"
      override     = true
    }
    referrer_policy {
      referrer_policy = "no-referrer"
      override        = true
    }
    strict_transport_security {
      access_control_max_age_sec = 31536000
      include_subdomains         = true
      override                   = true
    }
  }
}

resource "aws_cloudfront_distribution" "web" {
  #checkov:skip=CKV_AWS_68:No WAF: the distribution serves a few static files that anyone may read, and a web ACL costs more per month than the rest of the stack at rest.
  #checkov:skip=CKV2_AWS_47:No WAF (see CKV_AWS_68): there is no application behind CloudFront to exploit, only static files.
  #checkov:skip=CKV_AWS_86:Access logs of a public static page would need a log bucket of their own; the WebSocket API's access logs are what tell who uses the service.
  #checkov:skip=CKV_AWS_310:Origin failover needs a second bucket in another region for a page CloudFront already caches at the edge.
  #checkov:skip=CKV_AWS_174:The default *.cloudfront.net certificate is used (no custom domain); CloudFront then fixes the minimum protocol itself. A custom domain with an ACM certificate would set TLSv1.2_2021.
  #checkov:skip=CKV2_AWS_42:No custom domain, so no custom certificate: the page is served on its *.cloudfront.net name over HTTPS.
  #checkov:skip=CKV_AWS_374:No geo restriction: the service is meant to be reachable from anywhere its WebSocket API is.
  count = local.web_count

  enabled             = true
  comment             = "${local.name} browser client"
  default_root_object = "index.html"
  is_ipv6_enabled     = true
  http_version        = "http2and3"
  price_class         = var.web_price_class
  # A new distribution takes minutes to reach every edge; apply need not wait for it (util web-deploy
  # uploads to S3 and invalidates, which works while it deploys).
  wait_for_deployment = false

  origin {
    origin_id                = local.web_origin_id
    domain_name              = aws_s3_bucket.web[0].bucket_regional_domain_name
    origin_access_control_id = aws_cloudfront_origin_access_control.web[0].id
  }

  default_cache_behavior {
    target_origin_id           = local.web_origin_id
    viewer_protocol_policy     = "https-only"
    allowed_methods            = ["GET", "HEAD"]
    cached_methods             = ["GET", "HEAD"]
    compress                   = true
    cache_policy_id            = local.web_cache_policy_id
    response_headers_policy_id = local.web_response_headers_policy_id
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = true
  }
}
