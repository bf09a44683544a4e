# The failure paths of asynchronous work (dead_letters.tf), on the mocked provider: the event-invoke config, the
# encrypted dead-letter queue it sends failures to, SNS's redrive to the same queue, and who may send there. The
# variables reaching the config and their validations are runs of unit.tftest.hcl (one run fewer for the suite).

mock_provider "aws" {
  source = "./tests/mocks"
}

run "failed_asynchronous_events_and_undeliverable_pushes_go_to_one_encrypted_queue" {
  command = apply

  assert {
    condition     = aws_lambda_function_event_invoke_config.handler.function_name == aws_lambda_function.handler.function_name && aws_lambda_function_event_invoke_config.handler.maximum_retry_attempts == 2 && aws_lambda_function_event_invoke_config.handler.maximum_event_age_in_seconds == 600
    error_message = "By default a failed asynchronous invocation is retried twice and kept at most 600 s."
  }
  assert {
    condition     = aws_lambda_function_event_invoke_config.handler.destination_config[0].on_failure[0].destination == aws_sqs_queue.dead_letters.arn
    error_message = "The on-failure destination must be the dead-letter queue."
  }
  assert {
    condition     = aws_sqs_queue.dead_letters.name == "wspush-default-dead-letters" && aws_sqs_queue.dead_letters.sqs_managed_sse_enabled == true && aws_sqs_queue.dead_letters.message_retention_seconds == 1209600
    error_message = "The dead-letter queue must be named after the stack, encrypted (SSE-SQS) and keep messages 14 days."
  }
  assert {
    condition     = jsondecode(aws_sns_topic_subscription.handler.redrive_policy).deadLetterTargetArn == aws_sqs_queue.dead_letters.arn
    error_message = "SNS must redrive what it cannot deliver to the function to the dead-letter queue."
  }
  assert {
    condition     = aws_sqs_queue_policy.dead_letters.queue_url == aws_sqs_queue.dead_letters.id
    error_message = "The queue policy (SNS may send, for this topic only) must be the dead-letter queue's."
  }
  assert {
    condition     = output.dead_letter_queue_url == aws_sqs_queue.dead_letters.url
    error_message = "The output dead_letter_queue_url must be the queue's URL (util dead-letters reads it)."
  }
}
