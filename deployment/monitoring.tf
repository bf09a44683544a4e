# What an operator watches (docs/operations.md): one dashboard, and alarms on what means trouble, notifying an
# optional SNS topic or e-mail address. The function's own metrics are EMF lines (lambda_src/observability/metrics.py) in the
# namespace `wspush`; their names here must match that module's `Metric` (tests/terraform holds them equal).

locals {
  metrics_namespace = "wspush"
  # Sources of a fan-out (lambda_src/observability/metrics.py `Source`): the function emits its metrics per source.
  fanout_sources = ["broadcast", "push", "shard", "direct", "presence", "continuation"]
  # Whose fan-out budget refused a message (lambda_src/store/rate_limit.py `Spender`).
  budget_spenders = ["connection", "user"]

  # The queue whose depth is charted and alarmed on: the stack's own dead-letter queue (dead_letters.tf), unless
  # monitored_dead_letter_queue_name names another.
  monitored_dead_letter_queue = coalesce(var.monitored_dead_letter_queue_name, aws_sqs_queue.dead_letters.name)

  # An e-mail address gets a topic of its own; a given topic ARN is used as is.
  alarm_topic_arn = var.alarm_topic_arn != null ? var.alarm_topic_arn : (var.alarm_email != null ? aws_sns_topic.alarms[0].arn : null)
  alarm_actions   = local.alarm_topic_arn == null ? [] : [local.alarm_topic_arn]

  api_dimensions    = { ApiId = aws_apigatewayv2_api.this.id, Stage = var.stage_name }
  lambda_dimensions = { FunctionName = local.function_name }

  dashboard_region = data.aws_region.current.name

  api_widget_metrics = [
    for name in ["ConnectCount", "MessageCount", "ClientError", "ExecutionError", "IntegrationError"] :
    ["AWS/ApiGateway", name, "ApiId", local.api_dimensions.ApiId, "Stage", local.api_dimensions.Stage, { stat = "Sum" }]
  ]
  lambda_widget_metrics = [
    for name in ["Errors", "Throttles", "ConcurrentExecutions"] :
    ["AWS/Lambda", name, "FunctionName", local.function_name, { stat = name == "ConcurrentExecutions" ? "Maximum" : "Sum" }]
  ]
  fanout_widget_metrics = [
    for pair in setproduct(["Delivered", "Gone", "Failed"], local.fanout_sources) :
    [local.metrics_namespace, pair[0], "Source", pair[1], { stat = "Sum" }]
  ]
  # 429s from the account's @connections quota: paced and posted again, so not a loss, but the sign that
  # broadcasts have reached the quota (docs/scaling.md says what to do past it).
  throttled_widget_metrics = [
    for pair in setproduct(["Throttled"], local.fanout_sources) :
    [local.metrics_namespace, pair[0], "Source", pair[1], { stat = "Sum" }]
  ]

  # Messages the per-sender fan-out budget (FANOUT_BUDGET_PER_S) refused, and the posts they would have caused.
  budget_widget_metrics = [
    for pair in setproduct(["BudgetRefused", "BudgetRefusedPosts"], local.budget_spenders) :
    [local.metrics_namespace, pair[0], "Spender", pair[1], { stat = "Sum" }]
  ]

  dashboard_widgets = concat(
    [
      { type = "metric", x = 0, y = 0, width = 12, height = 6, properties = { title = "API: connects, messages, errors", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = local.api_widget_metrics } },
      { type = "metric", x = 12, y = 0, width = 12, height = 6, properties = { title = "API: integration latency", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = [["AWS/ApiGateway", "IntegrationLatency", "ApiId", local.api_dimensions.ApiId, "Stage", local.api_dimensions.Stage, { stat = "p99" }]] } },
      { type = "metric", x = 0, y = 6, width = 12, height = 6, properties = { title = "Function: errors, throttles, concurrency", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = local.lambda_widget_metrics } },
      { type = "metric", x = 12, y = 6, width = 12, height = 6, properties = { title = "Function: duration", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = [["AWS/Lambda", "Duration", "FunctionName", local.function_name, { stat = "p99" }]] } },
      { type = "metric", x = 0, y = 12, width = 12, height = 6, properties = { title = "Fan-out: delivered, gone, failed", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = local.fanout_widget_metrics } },
      { type = "metric", x = 12, y = 12, width = 12, height = 6, properties = { title = "Connections and error frames", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = [
        [local.metrics_namespace, "Connects", { stat = "Sum" }],
        [local.metrics_namespace, "Disconnects", { stat = "Sum" }],
        [{ expression = "SUM(SEARCH('{${local.metrics_namespace},Code} MetricName=\"RefusedConnects\"', 'Sum', 60))", label = "RefusedConnects", id = "refused" }],
        [{ expression = "SUM(SEARCH('{${local.metrics_namespace},Code} MetricName=\"ErrorFrames\"', 'Sum', 60))", label = "ErrorFrames", id = "frames" }],
      ] } },
      { type = "metric", x = 12, y = 18, width = 12, height = 6, properties = { title = "Fan-out: 429s from the @connections quota", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = local.throttled_widget_metrics } },
      { type = "metric", x = 0, y = 24, width = 12, height = 6, properties = { title = "Fan-out budget: refused messages and their posts", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = local.budget_widget_metrics } },
    ],
    [
      { type = "metric", x = 0, y = 18, width = 12, height = 6, properties = { title = "Dead-letter queue depth", region = local.dashboard_region, view = "timeSeries", period = 60, metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", local.monitored_dead_letter_queue, { stat = "Maximum" }]] } },
    ],
  )
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = local.name
  dashboard_body = jsonencode({ widgets = local.dashboard_widgets })
}

resource "aws_sns_topic" "alarms" {
  count = var.alarm_topic_arn == null && var.alarm_email != null ? 1 : 0

  name              = "${local.name}-alarms"
  kms_master_key_id = "alias/aws/sns"
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = length(aws_sns_topic.alarms)

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "function_errors" {
  alarm_name          = "${local.name}-function-errors"
  alarm_description   = "The function raised (an unhandled error or a failed push that Lambda retries). See docs/operations.md."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = local.lambda_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 2
  threshold           = var.alarm_function_errors_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "function_throttles" {
  alarm_name          = "${local.name}-function-throttles"
  alarm_description   = "Lambda refused invocations: the account's or the function's concurrency is exhausted. See docs/operations.md."
  namespace           = "AWS/Lambda"
  metric_name         = "Throttles"
  dimensions          = local.lambda_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "integration_errors" {
  alarm_name          = "${local.name}-integration-errors"
  alarm_description   = "API Gateway could not get an answer from the function (4xx/5xx from the integration). See docs/operations.md."
  namespace           = "AWS/ApiGateway"
  metric_name         = "IntegrationError"
  dimensions          = local.api_dimensions
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = 5
  datapoints_to_alarm = 2
  threshold           = var.alarm_integration_errors_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}

resource "aws_cloudwatch_metric_alarm" "failed_deliveries" {
  alarm_name          = "${local.name}-failed-deliveries"
  alarm_description   = "Posts to @connections failed after every retry (not 410 Gone): messages were lost. See docs/operations.md."
  evaluation_periods  = 5
  datapoints_to_alarm = 2
  threshold           = var.alarm_failed_deliveries_threshold
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  metric_query {
    id          = "failed"
    expression  = join(" + ", [for source in local.fanout_sources : "FILL(${source}, 0)"])
    label       = "Failed posts, every source"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = toset(local.fanout_sources)
    content {
      id = metric_query.value
      metric {
        namespace   = local.metrics_namespace
        metric_name = "Failed"
        dimensions  = { Source = metric_query.value }
        stat        = "Sum"
        period      = 60
      }
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  alarm_name          = "${local.name}-dead-letters"
  alarm_description   = "An asynchronous event (push, shard or continuation) exhausted Lambda's retries or its maximum age, or SNS could not deliver a push: it waits in the dead-letter queue (`util dead-letters`). See docs/operations.md."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = local.monitored_dead_letter_queue }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
}
