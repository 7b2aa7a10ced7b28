"""Deploy the stack into a local emulator with the real CDK CLI, verify it, rehearse, destroy.

`python -m deploylocal run` answers "has this ever been deployed?" on any laptop: a fresh
moto server on loopback, `cdk bootstrap`, `cdk deploy`, a second `cdk deploy` with changed
context, `cdk diff`, `cdk destroy`, with what CloudFormation created checked through boto3
after each deploy and a credential-compromise rehearsal run against the deployed stack.
"""
