# Credentials and, when var.region is null, the region come from the standard AWS chain
# (environment, shared config, SSO). Tests point this provider at a moto server through an
# override file written into a copy of this directory; the real deployment carries none of it.
provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      Project     = var.project
      Environment = terraform.workspace
      ManagedBy   = "terraform"
    })
  }
}
