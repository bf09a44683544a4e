# The DynamoDB connection store (connection_store = "dynamodb"): one on-demand table with generic keys
# pk/sk (lambda_src/store/dynamodb.py; docs/architecture.md has the items). Encrypted, TTL on expiresAt,
# point-in-time recovery as an option. The S3 store is in store.tf; exactly one of the two exists.

resource "aws_dynamodb_table" "connections" {
  count = local.use_s3 ? 0 : 1

  #checkov:skip=CKV_AWS_119:Encrypted at rest with the AWS managed key aws/dynamodb; a customer managed key adds a key fee and a key policy to run, and hides nothing from the one role that must read every record anyway.
  #checkov:skip=CKV_AWS_28:Point-in-time recovery is the dynamodb_point_in_time_recovery variable, off by default: connection records live minutes to hours and are rebuilt by reconnecting.
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = local.table_partition_key
  range_key    = local.table_sort_key

  attribute {
    name = local.table_partition_key
    type = "S"
  }

  attribute {
    name = local.table_sort_key
    type = "S"
  }

  ttl {
    # Records and memberships expire a day after they were written, like the bucket's lifecycle rules.
    attribute_name = local.table_ttl_attribute
    enabled        = true
  }

  server_side_encryption {
    enabled = true
  }

  point_in_time_recovery {
    enabled = var.dynamodb_point_in_time_recovery
  }

  deletion_protection_enabled = false
}
