"""``python -m dynamore.demo``: the README quick start against DynamoDB Local (``make demo``).

Needs ``DDB_ENDPOINT`` (``make demo`` starts a server and sets it).
"""

from __future__ import annotations

import os
import sys

TABLE = "MyTable"


def main() -> int:
    endpoint = os.environ.get("DDB_ENDPOINT")
    if not endpoint:
        print("error: set DDB_ENDPOINT, or run `make demo`", file=sys.stderr)
        return 2
    import botocore.session

    client = botocore.session.get_session().create_client(
        "dynamodb",
        region_name=os.environ.get("AWS_REGION", "us-east-1"),
        endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "demo"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "demo"),
    )
    client.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "PK", "AttributeType": "S"},
            {"AttributeName": "SK", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    print(f"DynamoDB Local at {endpoint}")
    print(f"created table {TABLE!r} (PK: string hash key, SK: string range key)")
    print("tables now:", client.list_tables()["TableNames"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
