# Failure paths of asynchronous work (docs/reliability.md): Lambda's event-invoke config for every asynchronous
# invocation of the handler (SNS pushes, shards, continuations), and one encrypted SQS dead-letter queue that
# receives both what Lambda gave up on (its on-failure destination) and what SNS could not deliver to Lambda at
# all (the subscription's redrive policy). `util dead-letters` lists the queue and replays it.

resource "aws_sqs_queue" "dead_letters" {
  name = local.dead_letter_queue_name
  # SQS's longest retention: two weeks to notice the alarm (monitoring.tf) and replay.
  message_retention_seconds = 1209600
  # SSE-SQS, not a KMS key: SNS may send to it without a key policy granting SNS, and there is no key to pay for.
  sqs_managed_sse_enabled = true
}

data "aws_iam_policy_document" "dead_letters" {
  statement {
    # SNS's redrive: only for this stack's own topic (confused-deputy guard).
    sid       = "SnsRedrivesUndeliverablePushes"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letters.arn]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.push.arn]
    }
  }

  statement {
    # As the connection bucket: nobody reads or writes the queue over plain HTTP.
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dead_letters.arn]

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

resource "aws_sqs_queue_policy" "dead_letters" {
  queue_url = aws_sqs_queue.dead_letters.id
  policy    = data.aws_iam_policy_document.dead_letters.json
}

resource "aws_lambda_function_event_invoke_config" "handler" {
  function_name                = aws_lambda_function.handler.function_name
  maximum_retry_attempts       = var.async_max_retry_attempts
  maximum_event_age_in_seconds = var.async_max_event_age_s

  destination_config {
    on_failure {
      destination = aws_sqs_queue.dead_letters.arn
    }
  }

  # Lambda checks that the execution role may send to the destination when the config is put.
  depends_on = [aws_iam_role_policy.handler]
}
