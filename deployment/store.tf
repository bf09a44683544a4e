# The S3 connection store (connection_store = "s3", the default): `connections/<id>` records and
# `rooms/<room>/<id>` memberships, `history/<room>/<message id>` room history. Private, encrypted,
# TLS-only; stale records expire after a day, history after its retention.
# The DynamoDB store is in dynamodb.tf; exactly one of the two exists.

resource "aws_s3_bucket" "connections" {
  count = local.use_s3 ? 1 : 0

  #checkov:skip=CKV_AWS_18:Access logging of a store of short-lived connection records would cost more than the data is worth; the Lambda logs every store change it makes.
  #checkov:skip=CKV_AWS_21:Versioning would keep every deleted connection record; the records live minutes to hours and are rebuilt by reconnecting.
  #checkov:skip=CKV_AWS_144:Cross-region replication of ephemeral connection state is useless: connections live in one region's API.
  #checkov:skip=CKV_AWS_145:SSE-S3 (AES-256) encrypts at rest without a KMS request per object read and write, which a fan-out does by the thousand.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to changes in the store, so there are no event notifications to configure.
  bucket        = local.bucket_name
  force_destroy = var.force_destroy

  lifecycle {
    precondition {
      # S3's naming rules, checked here because the workspace name is part of the bucket name.
      condition     = can(regex("^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$", local.bucket_name))
      error_message = "The bucket name \"${local.bucket_name}\" is not valid for S3: the workspace name must be lower-case letters, digits and '-', and short enough that the name stays within 63 characters."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "connections" {
  count = local.use_s3 ? 1 : 0

  bucket = aws_s3_bucket.connections[0].id

  rule {
    # ACLs disabled: access is decided by IAM and the bucket policy alone.
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "connections" {
  count = local.use_s3 ? 1 : 0

  bucket = aws_s3_bucket.connections[0].id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "connections" {
  count = local.use_s3 ? 1 : 0

  bucket = aws_s3_bucket.connections[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

data "aws_iam_policy_document" "connections_bucket" {
  count = local.use_s3 ? 1 : 0

  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.connections[0].arn,
      "${aws_s3_bucket.connections[0].arn}/*",
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

resource "aws_s3_bucket_policy" "connections" {
  count = local.use_s3 ? 1 : 0

  bucket = aws_s3_bucket.connections[0].id
  policy = data.aws_iam_policy_document.connections_bucket[0].json

  # S3 rejects a bucket policy while the public access block is still being applied.
  depends_on = [aws_s3_bucket_public_access_block.connections]
}

resource "aws_s3_bucket_lifecycle_configuration" "connections" {
  count = local.use_s3 ? 1 : 0

  bucket = aws_s3_bucket.connections[0].id

  # After creating this, the provider polls for ~55 s until S3 reads it back unchanged.

  # Expiry: one rule per key prefix of the store, so that nothing else is ever expired by accident.
  rule {
    id     = "expire-stale-connections"
    status = "Enabled"

    filter {
      prefix = local.connections_prefix
    }

    expiration {
      days = local.connection_record_expiration_days
    }
  }

  rule {
    id     = "expire-stale-rooms"
    status = "Enabled"

    filter {
      prefix = local.rooms_prefix
    }

    expiration {
      days = local.connection_record_expiration_days
    }
  }

  # Room history (issue 17): kept for history_retention_hours, rounded up to S3's whole days.
  rule {
    id     = "expire-room-history"
    status = "Enabled"

    filter {
      prefix = local.history_prefix
    }

    expiration {
      days = local.history_expiration_days
    }
  }

  rule {
    id     = "expire-claims"
    status = "Enabled"

    filter {
      prefix = local.claims_prefix
    }

    expiration {
      days = local.connection_record_expiration_days
    }
  }

  rule {
    id     = "expire-stale-rates"
    status = "Enabled"

    filter {
      prefix = local.rates_prefix
    }

    expiration {
      days = local.connection_record_expiration_days
    }
  }

  # Uploads are single PUTs; a multipart upload left incomplete by any client is only cost.
  rule {
    id     = "abort-incomplete-uploads"
    status = "Enabled"

    filter {}

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

# Addresses from before connection_store: an existing S3 deployment keeps its bucket.

moved {
  from = aws_s3_bucket.connections
  to   = aws_s3_bucket.connections[0]
}

moved {
  from = aws_s3_bucket_ownership_controls.connections
  to   = aws_s3_bucket_ownership_controls.connections[0]
}

moved {
  from = aws_s3_bucket_public_access_block.connections
  to   = aws_s3_bucket_public_access_block.connections[0]
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.connections
  to   = aws_s3_bucket_server_side_encryption_configuration.connections[0]
}

moved {
  from = aws_s3_bucket_policy.connections
  to   = aws_s3_bucket_policy.connections[0]
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.connections
  to   = aws_s3_bucket_lifecycle_configuration.connections[0]
}
