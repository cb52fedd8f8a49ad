"""HTTP transports: one signed DynamoDB request in, status + headers + body out."""
