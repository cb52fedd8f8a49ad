"""dynamore's benchmarks: each ``bench_*`` module compares dynamore with its peers (boto3's
resource layer, the botocore client, PynamoDB) side by side in one process. Run them all with
``make bench`` (``make bench QUICK=1`` for a fast smoke run); see benchmarks/README.rst."""
