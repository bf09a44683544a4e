# Every knob of the stack. The environment itself is the Terraform workspace (`dev`, `prod`, ...):
# names are "<project>-<workspace>-<thing>", see locals.tf.

variable "project" {
  description = "Project name, the first part of every resource name (\"<project>-<workspace>-...\")."
  type        = string
  default     = "wspush"
  nullable    = false

  validation {
    # Lower case because it ends up in the S3 bucket name; short so that names stay under AWS limits.
    condition     = can(regex("^[a-z][a-z0-9-]{1,19}$", var.project))
    error_message = "project must be 2-20 characters: a lower-case letter, then lower-case letters, digits or '-'."
  }
}

variable "region" {
  description = "AWS region to deploy to; null takes it from the AWS environment (AWS_REGION, profile)."
  type        = string
  default     = null

  validation {
    condition     = var.region == null || can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region code such as \"eu-west-1\", or null."
  }
}

variable "stage_name" {
  description = "Name of the API Gateway stage: the last path segment of the WebSocket URL."
  type        = string
  default     = "live"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,128}$", var.stage_name))
    error_message = "stage_name must be 1-128 letters, digits, '-' or '_'."
  }
}

variable "connection_store" {
  description = "Where the function keeps connections and room memberships: \"s3\" (a bucket, the default) or \"dynamodb\" (an on-demand table). The function's CONNECTION_STORE."
  type        = string
  default     = "s3"
  nullable    = false

  validation {
    # lambda_src/config.py STORE_KINDS holds the same values (a test compares them).
    condition     = contains(["s3", "dynamodb"], var.connection_store)
    error_message = "connection_store must be \"s3\" or \"dynamodb\"."
  }
}

variable "dynamodb_point_in_time_recovery" {
  description = "With connection_store = \"dynamodb\": keep 35 days of continuous backups of the table. Off by default: connections are rebuilt by reconnecting, so a restore has little to bring back."
  type        = bool
  default     = false
  nullable    = false
}

variable "auth_mode" {
  description = "Who may connect: none (anyone), token (a shared token kept in SSM, see auth.tf) or jwt (signed tokens verified by the $connect authorizer)."
  type        = string
  default     = "none"
  nullable    = false

  validation {
    condition     = contains(["none", "token", "jwt"], var.auth_mode)
    error_message = "auth_mode must be \"none\", \"token\" or \"jwt\"."
  }
}

variable "jwt_issuer" {
  description = "auth_mode jwt: the tokens' issuer (iss), an https URL such as https://YOUR_TENANT.auth0.com; ignored when create_user_pool is true."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_issuer == null || can(regex("^https://[^\\s]+$", var.jwt_issuer))
    error_message = "jwt_issuer must be an https URL (exactly the tokens' iss), or null."
  }
  validation {
    condition     = var.auth_mode != "jwt" || var.create_user_pool || var.jwt_issuer != null
    error_message = "auth_mode jwt needs jwt_issuer (or create_user_pool = true)."
  }
}

variable "jwt_audience" {
  description = "auth_mode jwt: the audience (aud) tokens must carry, such as the app client id; ignored when create_user_pool is true."
  type        = string
  default     = null

  validation {
    condition     = var.auth_mode != "jwt" || var.create_user_pool || (var.jwt_audience != null && var.jwt_audience != "")
    error_message = "auth_mode jwt needs jwt_audience (or create_user_pool = true)."
  }
}

variable "jwt_jwks_url" {
  description = "auth_mode jwt: the issuer's JWKS; null takes <issuer>/.well-known/jwks.json (right for Cognito and Auth0)."
  type        = string
  default     = null

  validation {
    condition     = var.jwt_jwks_url == null || can(regex("^https://", var.jwt_jwks_url))
    error_message = "jwt_jwks_url must be an https URL, or null."
  }
}

variable "jwt_name_claim" {
  description = "auth_mode jwt: the claim holding a user's display name (the token's sub when absent)."
  type        = string
  default     = "name"
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_:.-]{1,64}$", var.jwt_name_claim))
    error_message = "jwt_name_claim must be 1-64 letters, digits, '_', ':', '.' or '-'."
  }
}

variable "authorizer_identity_source" {
  description = "auth_mode jwt: where API Gateway requires the token (a connect without it gets 401 before the authorizer runs). The query string works in browsers; the header does not."
  type        = string
  default     = "route.request.querystring.token"
  nullable    = false

  validation {
    condition     = contains(["route.request.querystring.token", "route.request.header.Authorization"], var.authorizer_identity_source)
    error_message = "authorizer_identity_source must be route.request.querystring.token or route.request.header.Authorization."
  }
}

variable "create_user_pool" {
  description = "Create a Cognito user pool and app client as the jwt issuer (its ids become outputs)."
  type        = bool
  default     = false
  nullable    = false
}

# 64, where bench.model picks 128 for 1,000-10,000 recipients: that gain rests on an assumed 20 ms @connections
# latency and 128 threads sharing one vCPU, neither measured on AWS yet (docs/scaling.md, "Terraform defaults").
variable "fanout_concurrency" {
  description = "Posts to @connections in flight at once during one fan-out (the Lambda's FANOUT_CONCURRENCY)."
  type        = number
  default     = 64
  nullable    = false

  validation {
    condition     = var.fanout_concurrency >= 1 && var.fanout_concurrency <= 512 && floor(var.fanout_concurrency) == var.fanout_concurrency
    error_message = "fanout_concurrency must be a whole number from 1 to 512."
  }
}

variable "shard_size" {
  description = "Recipients per shard: a fan-out to more is split into asynchronous invocations of the function itself (the Lambda's SHARD_SIZE); 0 turns sharding off."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = var.shard_size >= 0 && var.shard_size <= 100000 && floor(var.shard_size) == var.shard_size
    error_message = "shard_size must be a whole number from 0 (off) to 100000."
  }
}

variable "history_size" {
  description = "Messages of each room kept readable with the history action, newest first (the Lambda's HISTORY_SIZE); 0 turns history off."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.history_size >= 0 && var.history_size <= 1000 && floor(var.history_size) == var.history_size
    error_message = "history_size must be a whole number from 0 (off) to 1000."
  }
}

variable "history_retention_hours" {
  description = "Hours a room's message stays in its history (the Lambda's HISTORY_RETENTION_HOURS). Reads hold to it exactly; the S3 lifecycle rule deletes after it rounded up to whole days, DynamoDB's TTL some time after it."
  type        = number
  default     = 24
  nullable    = false

  validation {
    condition     = var.history_retention_hours >= 1 && var.history_retention_hours <= 720 && floor(var.history_retention_hours) == var.history_retention_hours
    error_message = "history_retention_hours must be a whole number from 1 to 720 (30 days)."
  }
}

variable "history_page_limit" {
  description = "The most messages one history reply carries, the cap of its limit field (the Lambda's HISTORY_PAGE_LIMIT)."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.history_page_limit >= 1 && var.history_page_limit <= 1000 && floor(var.history_page_limit) == var.history_page_limit
    error_message = "history_page_limit must be a whole number from 1 to 1000."
  }
}

variable "presence_max_members" {
  description = "Room size above which presence frames carry only the member count, not the member (the Lambda's PRESENCE_MAX_MEMBERS): presence fan-out grows with the square of the room."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.presence_max_members >= 0 && var.presence_max_members <= 100000 && floor(var.presence_max_members) == var.presence_max_members
    error_message = "presence_max_members must be a whole number from 0 to 100000."
  }
}

variable "log_level" {
  description = "Level of the Lambda's application logs: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"
  nullable    = false

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be one of DEBUG, INFO, WARNING, ERROR."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the Lambda's logs and the API's access logs."
  type        = number
  default     = 14
  nullable    = false

  validation {
    # The values CloudWatch Logs accepts for a retention policy.
    condition = contains(
      [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653],
      var.log_retention_days,
    )
    error_message = "log_retention_days must be one CloudWatch Logs accepts: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "throttling_burst_limit" {
  description = "API Gateway stage throttling: requests (connects and messages) allowed in a burst."
  type        = number
  default     = 500
  nullable    = false

  validation {
    condition     = var.throttling_burst_limit >= 0 && var.throttling_burst_limit <= 5000 && floor(var.throttling_burst_limit) == var.throttling_burst_limit
    error_message = "throttling_burst_limit must be a whole number from 0 to 5000 (the account default limit)."
  }
}

variable "throttling_rate_limit" {
  description = "API Gateway stage throttling: steady-state requests per second."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = var.throttling_rate_limit >= 0 && var.throttling_rate_limit <= 10000
    error_message = "throttling_rate_limit must be from 0 to 10000 requests per second (the account default limit)."
  }
}

variable "reserved_concurrency" {
  description = "Concurrent executions reserved for (and capping) the Lambda; -1 reserves none and leaves it uncapped. The default, 100, caps what a flood can cost and leaves room for shards: see docs/deploy.md."
  type        = number
  default     = 100
  nullable    = false

  validation {
    condition     = var.reserved_concurrency >= -1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be -1 (none) or a whole number >= 0 (0 stops the function)."
  }
}

variable "message_rate_per_s" {
  description = "Messages a second each connection may send on average (the Lambda's MESSAGE_RATE_PER_S, a token bucket per connection kept in the store); 0 turns the limit off."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.message_rate_per_s >= 0 && var.message_rate_per_s <= 1000
    error_message = "message_rate_per_s must be from 0 (off) to 1000 messages a second."
  }
}

variable "fanout_budget_per_s" {
  description = "Posts a second one connection, and with an identity one user, may cause by its messages (the Lambda's FANOUT_BUDGET_PER_S: a broadcast costs its recipients, a send one, a join or leave its presence frames; bursts of one second's worth, and a full budget admits any one fan-out); past it, rate_limited. 0 turns it off. Why 1000: a tenth of the account's @connections quota, at most $3.60 an hour of messages per sender (docs/deploy.md)."
  type        = number
  default     = 1000
  nullable    = false

  validation {
    condition     = var.fanout_budget_per_s >= 0 && var.fanout_budget_per_s <= 100000
    error_message = "fanout_budget_per_s must be from 0 (off) to 100000 posts a second."
  }
}

variable "message_burst" {
  description = "Messages each connection may send at once (the Lambda's MESSAGE_BURST, the size of its token bucket)."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.message_burst >= 1 && var.message_burst <= 10000 && floor(var.message_burst) == var.message_burst
    error_message = "message_burst must be a whole number from 1 to 10000."
  }
}

variable "broadcast_throttle_rate" {
  description = "API Gateway route throttling of broadcast, all connections together: steady-state broadcasts a second. Each posts to every connection, so about 10000 / audience fits the account's @connections quota."
  type        = number
  default     = 10
  nullable    = false

  validation {
    condition     = var.broadcast_throttle_rate >= 0 && var.broadcast_throttle_rate <= 10000
    error_message = "broadcast_throttle_rate must be from 0 to 10000 requests per second (the account default limit)."
  }
}

variable "broadcast_throttle_burst" {
  description = "API Gateway route throttling of broadcast, all connections together: broadcasts allowed in a burst."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.broadcast_throttle_burst >= 0 && var.broadcast_throttle_burst <= 5000 && floor(var.broadcast_throttle_burst) == var.broadcast_throttle_burst
    error_message = "broadcast_throttle_burst must be a whole number from 0 to 5000 (the account default limit)."
  }
}

# The default is one full vCPU: bench.model's recommendation for audiences of 1,000 to 10,000 (docs/scaling.md),
# about 30% faster than 512 MB there for 1-2% more cost. Past the @connections quota (100,000 and more) the quota
# paces every shard and the model picks 512 MB.
variable "lambda_memory_mb" {
  description = "Memory of the Lambda in MB; CPU grows with it, and fan-out is CPU-bound."
  type        = number
  default     = 1769
  nullable    = false

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb
    error_message = "lambda_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "lambda_timeout_s" {
  description = "Timeout of one Lambda invocation in seconds (API Gateway itself waits at most 29 s for a route)."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.lambda_timeout_s >= 1 && var.lambda_timeout_s <= 900 && floor(var.lambda_timeout_s) == var.lambda_timeout_s
    error_message = "lambda_timeout_s must be a whole number from 1 to 900."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of the Lambda: arm64 (cheaper per GB-second) or x86_64. The code is pure Python."
  type        = string
  default     = "arm64"
  nullable    = false

  validation {
    condition     = contains(["arm64", "x86_64"], var.lambda_architecture)
    error_message = "lambda_architecture must be \"arm64\" or \"x86_64\"."
  }
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the connection bucket even when it still holds objects (a table is always deletable)."
  type        = bool
  default     = false
  nullable    = false
}

variable "init_api_gw_logging_role" {
  description = "Create the IAM role API Gateway uses to write logs and register it in the region's API Gateway account settings. That setting is one per account and region: enable it in exactly one workspace, and only if no other stack manages it."
  type        = bool
  default     = false
  nullable    = false
}

variable "tags" {
  description = "Extra tags for every resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for key in keys(var.tags) : !contains(["Project", "Environment", "ManagedBy"], key)])
    error_message = "tags must not set Project, Environment or ManagedBy: the stack sets them itself."
  }
}

variable "web_hosting" {
  description = "Host the browser client (util/browser): a private S3 bucket behind CloudFront; `util web-deploy ENV` uploads the page. Off: no web resources and no web outputs."
  type        = bool
  default     = false
  nullable    = false
}

variable "detailed_route_metrics" {
  description = "Turn on API Gateway's detailed metrics per route (billed as custom metrics): the stage's detailed_metrics_enabled."
  type        = bool
  default     = false
  nullable    = false
}

variable "web_price_class" {
  description = "CloudFront price class of the browser client's distribution (edge locations it uses, hence cost)."
  type        = string
  default     = "PriceClass_100"
  nullable    = false

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.web_price_class)
    error_message = "web_price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "alarm_topic_arn" {
  description = "SNS topic ARN the alarms notify (and tell when they are OK again); null for none, or see alarm_email."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}$", var.alarm_topic_arn))
    error_message = "alarm_topic_arn must be an SNS topic ARN, or null."
  }
}

variable "alarm_email" {
  description = "E-mail address the alarms notify through a topic of their own (the address must confirm); ignored when alarm_topic_arn is set."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address, or null."
  }
}

variable "alarm_function_errors_threshold" {
  description = "Function errors per minute that count as trouble (in 2 of 5 minutes)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.alarm_function_errors_threshold >= 1
    error_message = "alarm_function_errors_threshold must be at least 1."
  }
}

variable "alarm_integration_errors_threshold" {
  description = "API Gateway integration errors per minute that count as trouble (in 2 of 5 minutes)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.alarm_integration_errors_threshold >= 1
    error_message = "alarm_integration_errors_threshold must be at least 1."
  }
}

variable "alarm_failed_deliveries_threshold" {
  description = "Failed @connections posts per minute (after retries; 410 Gone not counted) that count as trouble (in 2 of 5 minutes)."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.alarm_failed_deliveries_threshold >= 1
    error_message = "alarm_failed_deliveries_threshold must be at least 1."
  }
}

variable "monitored_dead_letter_queue_name" {
  description = "Name of an SQS queue to chart and alarm on instead of the stack's own dead-letter queue (dead_letters.tf); null (the default) watches the stack's own."
  type        = string
  default     = null

  validation {
    condition     = var.monitored_dead_letter_queue_name == null || can(regex("^[A-Za-z0-9_-]{1,80}(\\.fifo)?$", var.monitored_dead_letter_queue_name))
    error_message = "monitored_dead_letter_queue_name must be an SQS queue name (1-80 letters, digits, '-' or '_', optionally .fifo), or null."
  }
}

variable "async_max_retry_attempts" {
  description = "Retries of a failed asynchronous invocation (SNS push, shard, segment, continuation) before its event goes to the dead-letter queue (0-2; Lambda retries after about 1 and 2 more minutes). 2, Lambda's own default: a retry posts only to the recipients its failed attempt did not reach (docs/reliability.md), and a store outage of a few minutes then loses no push."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = contains([0, 1, 2], var.async_max_retry_attempts)
    error_message = "async_max_retry_attempts must be 0, 1 or 2 (Lambda's range)."
  }
}

variable "async_max_event_age_s" {
  description = "Seconds an asynchronous event may wait (throttled, or between retries) before it goes to the dead-letter queue (60-21600). 600 instead of Lambda's 6 hours: both retries fit (about 3 minutes), and a push to WebSocket clients hours late is worse than one in the dead-letter queue, replayable with `util dead-letters --replay`."
  type        = number
  default     = 600
  nullable    = false

  validation {
    condition     = var.async_max_event_age_s >= 60 && var.async_max_event_age_s <= 21600 && floor(var.async_max_event_age_s) == var.async_max_event_age_s
    error_message = "async_max_event_age_s must be a whole number of seconds from 60 to 21600 (Lambda's range)."
  }
}
