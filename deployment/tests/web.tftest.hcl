# The browser client's hosting (web.tf) on a mocked AWS provider: off by default; on, a private
# bucket that only the distribution reads through origin access control, HTTPS only, with the page's
# security headers. The apply against moto is tests/terraform/test_apply_moto.py (web variant).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "web_hosting_is_off_by_default" {
  command = plan

  assert {
    condition     = length(aws_s3_bucket.web) == 0 && length(aws_cloudfront_distribution.web) == 0 && length(aws_cloudfront_origin_access_control.web) == 0
    error_message = "Without web_hosting there must be no web bucket and no distribution."
  }
  assert {
    condition     = output.web_url == null && output.web_bucket == null && output.web_distribution_id == null
    error_message = "Without web_hosting the web outputs must be null."
  }
}

run "web_hosting_serves_a_private_bucket_through_cloudfront" {
  command = apply

  variables {
    web_hosting = true
  }

  override_resource {
    target = aws_s3_bucket.web
    values = {
      arn                         = "arn:aws:s3:::mocked-web-bucket"
      bucket_regional_domain_name = "mocked-web-bucket.s3.eu-west-1.amazonaws.com"
    }
  }

  assert {
    condition     = aws_s3_bucket.web[0].bucket == "wspush-${terraform.workspace}-web-123456789012"
    error_message = "The web bucket must be named <project>-<workspace>-web-<account id>."
  }
  assert {
    condition     = alltrue([aws_s3_bucket_public_access_block.web[0].block_public_acls, aws_s3_bucket_public_access_block.web[0].block_public_policy, aws_s3_bucket_public_access_block.web[0].ignore_public_acls, aws_s3_bucket_public_access_block.web[0].restrict_public_buckets])
    error_message = "The web bucket must block every kind of public access."
  }
  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.web[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "The web bucket must be encrypted at rest."
  }
  assert {
    condition     = aws_s3_bucket_ownership_controls.web[0].rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "ACLs must be disabled on the web bucket."
  }
  assert {
    condition     = aws_cloudfront_origin_access_control.web[0].origin_access_control_origin_type == "s3" && aws_cloudfront_origin_access_control.web[0].signing_behavior == "always" && aws_cloudfront_origin_access_control.web[0].signing_protocol == "sigv4"
    error_message = "CloudFront must sign every request to S3 with SigV4 (origin access control, not an identity)."
  }
  assert {
    condition     = one(aws_cloudfront_distribution.web[0].origin).origin_access_control_id == "E3MOCKEDOAC" && one(aws_cloudfront_distribution.web[0].origin).domain_name == "mocked-web-bucket.s3.eu-west-1.amazonaws.com"
    error_message = "The distribution's origin must be the web bucket, reached through the origin access control."
  }
  assert {
    condition     = aws_cloudfront_distribution.web[0].default_root_object == "index.html"
    error_message = "The distribution must serve index.html at /."
  }
  assert {
    condition     = one(aws_cloudfront_distribution.web[0].default_cache_behavior).viewer_protocol_policy == "https-only" && toset(one(aws_cloudfront_distribution.web[0].default_cache_behavior).allowed_methods) == toset(["GET", "HEAD"])
    error_message = "The page must be served over HTTPS only, read-only."
  }
  assert {
    condition     = one(aws_cloudfront_distribution.web[0].default_cache_behavior).response_headers_policy_id == "mocked-headers-policy"
    error_message = "Every response must carry the page's security headers policy."
  }
  assert {
    condition     = one(one(aws_cloudfront_response_headers_policy.web[0].security_headers_config).content_security_policy).content_security_policy == "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self' ws: wss:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    error_message = "The Content-Security-Policy must let only the page's own files run and forbid framing."
  }
  assert {
    condition     = one(one(aws_cloudfront_response_headers_policy.web[0].security_headers_config).frame_options).frame_option == "DENY" && one(one(aws_cloudfront_response_headers_policy.web[0].security_headers_config).referrer_policy).referrer_policy == "no-referrer"
    error_message = "The page must not be framed and must send no referrer."
  }
  assert {
    condition     = one(data.aws_iam_policy_document.web_bucket[0].statement[0].principals).identifiers == toset(["cloudfront.amazonaws.com"]) && one(data.aws_iam_policy_document.web_bucket[0].statement[0].condition).variable == "AWS:SourceArn" && toset(one(data.aws_iam_policy_document.web_bucket[0].statement[0].condition).values) == toset(["arn:aws:cloudfront::123456789012:distribution/E2MOCKEDDIST"])
    error_message = "Only this distribution may read the bucket."
  }
  assert {
    condition     = data.aws_iam_policy_document.web_bucket[0].statement[1].effect == "Deny" && one(data.aws_iam_policy_document.web_bucket[0].statement[1].condition).variable == "aws:SecureTransport"
    error_message = "The web bucket must refuse requests without TLS."
  }
  assert {
    condition     = output.web_url == "https://d111111abcdef8.cloudfront.net/" && output.web_distribution_id == "E2MOCKEDDIST" && output.web_bucket == aws_s3_bucket.web[0].bucket
    error_message = "The web outputs must name the distribution's URL, its id and the bucket."
  }
}

run "web_price_class_is_validated" {
  command = plan

  variables {
    web_hosting     = true
    web_price_class = "PriceClass_Cheap"
  }

  expect_failures = [var.web_price_class]
}
