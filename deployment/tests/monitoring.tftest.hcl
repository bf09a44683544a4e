# The dashboard's metrics and each alarm's metric and threshold (deployment/monitoring.tf), on the mocked
# provider. The metric names of our namespace are held equal to lambda_src/observability/metrics.py by tests/terraform.

mock_provider "aws" {
  source = "./tests/mocks"
}

run "dashboard_charts_the_api_the_function_and_the_fanout" {
  command = apply

  assert {
    condition = toset([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets :
      widget.properties.title
    ]) == toset(["API: connects, messages, errors", "API: integration latency", "Function: errors, throttles, concurrency", "Function: duration", "Fan-out: delivered, gone, failed", "Connections and error frames", "Fan-out: 429s from the @connections quota", "Fan-out budget: refused messages and their posts", "Dead-letter queue depth"])
    error_message = "The dashboard has exactly the API, function, fan-out, connection, 429, fan-out budget and dead-letter queue widgets."
  }
  assert {
    condition = toset(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for metric in widget.properties.metrics : "${metric[0]}/${metric[1]}" if length(metric) > 2
      ]
      ])) == toset([
      "AWS/ApiGateway/ConnectCount", "AWS/ApiGateway/MessageCount", "AWS/ApiGateway/ClientError",
      "AWS/ApiGateway/ExecutionError", "AWS/ApiGateway/IntegrationError", "AWS/ApiGateway/IntegrationLatency",
      "AWS/Lambda/Errors", "AWS/Lambda/Throttles", "AWS/Lambda/Duration", "AWS/Lambda/ConcurrentExecutions",
      "wspush/Delivered", "wspush/Gone", "wspush/Failed", "wspush/Connects", "wspush/Disconnects", "wspush/Throttled",
      "wspush/BudgetRefused", "wspush/BudgetRefusedPosts",
      "AWS/SQS/ApproximateNumberOfMessagesVisible",
    ])
    error_message = "The dashboard must chart exactly the API Gateway, Lambda and fan-out metrics listed in docs/operations.md."
  }
  assert {
    condition = alltrue(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for metric in widget.properties.metrics : slice(metric, 2, 6) == ["ApiId", "a1b2c3d4e5", "Stage", "live"] if length(metric) > 2 && metric[0] == "AWS/ApiGateway"
      ]
    ]))
    error_message = "API metrics must be this API's stage."
  }
  assert {
    condition = alltrue(flatten([
      for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for metric in widget.properties.metrics : slice(metric, 2, 4) == ["FunctionName", "wspush-default-handler"] if length(metric) > 2 && metric[0] == "AWS/Lambda"
      ]
    ]))
    error_message = "Function metrics must be this function's."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.dead_letters.dimensions.QueueName == "wspush-default-dead-letters" && aws_cloudwatch_metric_alarm.dead_letters.threshold == 1
    error_message = "By default the stack's own dead-letter queue (dead_letters.tf) is watched: one message in it alarms."
  }
  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && alltrue([for alarm in [aws_cloudwatch_metric_alarm.function_errors, aws_cloudwatch_metric_alarm.function_throttles, aws_cloudwatch_metric_alarm.integration_errors, aws_cloudwatch_metric_alarm.failed_deliveries] : length(alarm.alarm_actions) == 0])
    error_message = "Without a topic or an e-mail address the alarms notify nobody and no topic is made."
  }
  assert {
    condition     = aws_apigatewayv2_stage.this.default_route_settings[0].detailed_metrics_enabled == false
    error_message = "Detailed route metrics are billed: off by default."
  }
}

run "each_alarm_watches_its_metric_at_its_threshold_and_notifies_an_email_topic" {
  command = apply

  variables {
    alarm_function_errors_threshold    = 3
    alarm_integration_errors_threshold = 4
    alarm_failed_deliveries_threshold  = 5
    alarm_email                        = "ops@example.com"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.function_errors.namespace == "AWS/Lambda" && aws_cloudwatch_metric_alarm.function_errors.metric_name == "Errors" && aws_cloudwatch_metric_alarm.function_errors.dimensions.FunctionName == "wspush-default-handler" && aws_cloudwatch_metric_alarm.function_errors.statistic == "Sum" && aws_cloudwatch_metric_alarm.function_errors.threshold == 3 && aws_cloudwatch_metric_alarm.function_errors.comparison_operator == "GreaterThanOrEqualToThreshold"
    error_message = "function_errors must alarm on the function's Errors sum at alarm_function_errors_threshold."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.function_throttles.namespace == "AWS/Lambda" && aws_cloudwatch_metric_alarm.function_throttles.metric_name == "Throttles" && aws_cloudwatch_metric_alarm.function_throttles.dimensions.FunctionName == "wspush-default-handler" && aws_cloudwatch_metric_alarm.function_throttles.threshold == 1
    error_message = "function_throttles must alarm on the first throttled invocation."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.integration_errors.namespace == "AWS/ApiGateway" && aws_cloudwatch_metric_alarm.integration_errors.metric_name == "IntegrationError" && aws_cloudwatch_metric_alarm.integration_errors.dimensions.ApiId == "a1b2c3d4e5" && aws_cloudwatch_metric_alarm.integration_errors.dimensions.Stage == "live" && aws_cloudwatch_metric_alarm.integration_errors.threshold == 4
    error_message = "integration_errors must alarm on the stage's IntegrationError sum at alarm_integration_errors_threshold."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.failed_deliveries.threshold == 5 && toset([for q in aws_cloudwatch_metric_alarm.failed_deliveries.metric_query : "${q.metric[0].namespace}/${q.metric[0].metric_name}/${q.metric[0].dimensions.Source}/${q.metric[0].stat}" if length(q.metric) > 0]) == toset(["wspush/Failed/broadcast/Sum", "wspush/Failed/push/Sum", "wspush/Failed/shard/Sum", "wspush/Failed/direct/Sum", "wspush/Failed/presence/Sum", "wspush/Failed/continuation/Sum"])
    error_message = "failed_deliveries must sum our Failed metric over every fan-out source, at alarm_failed_deliveries_threshold."
  }
  assert {
    condition     = one([for q in aws_cloudwatch_metric_alarm.failed_deliveries.metric_query : q.expression if q.return_data == true]) == "FILL(broadcast, 0) + FILL(push, 0) + FILL(shard, 0) + FILL(direct, 0) + FILL(presence, 0) + FILL(continuation, 0)"
    error_message = "failed_deliveries must alarm on the sum of every source's Failed, missing sources counted as 0."
  }
  assert {
    condition     = length(aws_sns_topic.alarms) == 1 && aws_sns_topic.alarms[0].kms_master_key_id == "alias/aws/sns" && aws_sns_topic_subscription.alarm_email[0].protocol == "email" && aws_sns_topic_subscription.alarm_email[0].endpoint == "ops@example.com"
    error_message = "An e-mail address must get an encrypted alarm topic with an e-mail subscription."
  }
  assert {
    condition     = alltrue([for alarm in [aws_cloudwatch_metric_alarm.function_errors, aws_cloudwatch_metric_alarm.function_throttles, aws_cloudwatch_metric_alarm.integration_errors, aws_cloudwatch_metric_alarm.failed_deliveries] : alarm.alarm_actions == toset([aws_sns_topic.alarms[0].arn]) && alarm.ok_actions == toset([aws_sns_topic.alarms[0].arn])])
    error_message = "Every alarm must notify the e-mail topic, in alarm and when OK again."
  }
}

run "a_given_topic_is_notified_and_a_named_dead_letter_queue_is_watched_instead" {
  command = apply

  variables {
    alarm_topic_arn                  = "arn:aws:sns:eu-west-1:123456789012:oncall"
    alarm_email                      = "ops@example.com"
    monitored_dead_letter_queue_name = "another-teams-dead-letters"
    detailed_route_metrics           = true
  }

  assert {
    condition     = length(aws_sns_topic.alarms) == 0 && aws_cloudwatch_metric_alarm.function_errors.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:oncall"])
    error_message = "A given topic ARN is used as is; no topic of our own is made."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.dead_letters.namespace == "AWS/SQS" && aws_cloudwatch_metric_alarm.dead_letters.metric_name == "ApproximateNumberOfMessagesVisible" && aws_cloudwatch_metric_alarm.dead_letters.dimensions.QueueName == "another-teams-dead-letters" && aws_cloudwatch_metric_alarm.dead_letters.threshold == 1 && aws_cloudwatch_metric_alarm.dead_letters.alarm_actions == toset(["arn:aws:sns:eu-west-1:123456789012:oncall"])
    error_message = "A dead-letter queue that is not empty must alarm."
  }
  assert {
    condition     = contains([for widget in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : widget.properties.metrics[0][3] if widget.properties.title == "Dead-letter queue depth"], "another-teams-dead-letters")
    error_message = "The dashboard must chart the depth of the queue monitored_dead_letter_queue_name names."
  }
  assert {
    condition     = aws_apigatewayv2_stage.this.default_route_settings[0].detailed_metrics_enabled == true
    error_message = "detailed_route_metrics must turn on the stage's detailed metrics."
  }
}
