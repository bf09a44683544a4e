# Pushes from outside: publish to this topic (`util send-data`), the handler fans each message out.

resource "aws_sns_topic" "push" {
  name         = local.topic_name
  display_name = "${var.project} ${terraform.workspace} push"
  # The AWS managed key: encrypted at rest at no key cost, and publishers need only sns:Publish.
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "handler" {
  topic_arn = aws_sns_topic.push.arn
  protocol  = "lambda"
  endpoint  = aws_lambda_function.handler.arn

  # A message SNS cannot deliver to the function at all (after SNS's own retries) goes to the dead-letter queue
  # instead of being dropped; `util dead-letters --replay` sends it through (dead_letters.tf).
  redrive_policy = jsonencode({ deadLetterTargetArn = aws_sqs_queue.dead_letters.arn })

  # SNS must be allowed to invoke the function before it delivers the first message.
  depends_on = [aws_lambda_permission.sns, aws_sqs_queue_policy.dead_letters]
}
