# connection_store = "dynamodb", on a mocked AWS provider: the table instead of the bucket, its
# settings, the function's variables, the role's statement and the outputs.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  connection_store = "dynamodb"
}

run "the_table_replaces_the_bucket" {
  command = apply

  assert {
    condition     = length(aws_dynamodb_table.connections) == 1 && length(aws_s3_bucket.connections) == 0 && length(aws_s3_bucket_lifecycle_configuration.connections) == 0 && length(aws_s3_bucket_policy.connections) == 0
    error_message = "With connection_store = dynamodb the stack creates the table and nothing of the bucket."
  }
  assert {
    condition     = aws_dynamodb_table.connections[0].name == "wspush-${terraform.workspace}-connections"
    error_message = "The table must be named <project>-<workspace>-connections."
  }
}

run "the_table_is_on_demand_keyed_pk_sk_encrypted_and_expires_records" {
  command = apply

  assert {
    condition     = aws_dynamodb_table.connections[0].billing_mode == "PAY_PER_REQUEST"
    error_message = "The table must be on demand."
  }
  assert {
    condition     = aws_dynamodb_table.connections[0].hash_key == "pk" && aws_dynamodb_table.connections[0].range_key == "sk"
    error_message = "The keys must be the generic pk (partition) and sk (sort)."
  }
  assert {
    condition     = jsonencode(sort([for attribute in aws_dynamodb_table.connections[0].attribute : "${attribute.name}:${attribute.type}"])) == jsonencode(["pk:S", "sk:S"])
    error_message = "Only the two string keys are declared attributes (no index)."
  }
  assert {
    condition     = length(aws_dynamodb_table.connections[0].global_secondary_index) == 0 && length(aws_dynamodb_table.connections[0].local_secondary_index) == 0
    error_message = "The store needs no index."
  }
  assert {
    condition     = one(aws_dynamodb_table.connections[0].ttl).enabled && one(aws_dynamodb_table.connections[0].ttl).attribute_name == "expiresAt"
    error_message = "TTL must be enabled on expiresAt."
  }
  assert {
    condition     = one(aws_dynamodb_table.connections[0].server_side_encryption).enabled
    error_message = "The table must be encrypted with a KMS key."
  }
  assert {
    condition     = one(aws_dynamodb_table.connections[0].point_in_time_recovery).enabled == false
    error_message = "Point-in-time recovery is off by default."
  }
}

run "point_in_time_recovery_is_an_option" {
  command = apply

  variables {
    dynamodb_point_in_time_recovery = true
  }

  assert {
    condition     = one(aws_dynamodb_table.connections[0].point_in_time_recovery).enabled
    error_message = "dynamodb_point_in_time_recovery must turn point-in-time recovery on."
  }
}

run "the_function_gets_the_table_and_no_bucket" {
  command = apply

  assert {
    condition     = aws_lambda_function.handler.environment[0].variables.CONNECTION_STORE == "dynamodb" && aws_lambda_function.handler.environment[0].variables.CONNECTIONS_TABLE == "wspush-${terraform.workspace}-connections"
    error_message = "CONNECTION_STORE must be dynamodb and CONNECTIONS_TABLE the stack's table."
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.handler.environment[0].variables), "CONNECTIONS_BUCKET")
    error_message = "Without a bucket the function gets no CONNECTIONS_BUCKET."
  }
}

run "the_role_may_use_only_the_table_with_the_stores_calls" {
  command = apply

  assert {
    condition = jsonencode({
      for statement in data.aws_iam_policy_document.handler.statement : statement.sid => sort(statement.resources)
      }) == jsonencode({
      ReadWriteConnectionTable      = ["arn:aws:dynamodb:eu-west-1:123456789012:table/mocked"]
      PostToOwnConnections          = ["arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/live/POST/@connections/*"]
      InvokeItselfForShards         = ["arn:aws:lambda:eu-west-1:123456789012:function:wspush-default-handler"]
      SendFailedEventsToDeadLetters = ["arn:aws:sqs:eu-west-1:123456789012:mocked-dead-letters"]
      WriteOwnLogGroup              = ["arn:aws:logs:eu-west-1:123456789012:log-group:mocked:*"]
    })
    error_message = "With the table, the role names the table alone (no bucket, no index) and its own API, function, dead-letter queue and log group."
  }
  assert {
    condition = jsonencode(sort(one([for statement in data.aws_iam_policy_document.handler.statement : statement.actions if statement.sid == "ReadWriteConnectionTable"]))) == jsonencode([
      "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
      "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan", "dynamodb:UpdateItem",
    ])
    error_message = "The table statement grants exactly the store's calls."
  }
}

run "outputs_name_the_table_and_no_bucket" {
  command = apply

  assert {
    condition     = output.connections_table == "wspush-${terraform.workspace}-connections" && output.connections_bucket == null
    error_message = "connections_table must name the table, and connections_bucket be null."
  }
}
