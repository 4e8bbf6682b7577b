#!/bin/bash
# Lambda handler of the relay (Handler: run.sh). Lambda Web Adapter's /opt/bootstrap (the exec wrapper)
# starts this script, waits until GET /healthz answers, then forwards each invoke to uvicorn and streams
# the response back (AWS_LWA_INVOKE_MODE=response_stream).
#
# Import path, first match wins: the task root (the relay package and its own dependencies), then
# /opt/python (the CommonLayer: tollway and the shared dependencies), then whatever was set before,
# then the runtime's own directory (last, as in LWA's zip example; we ship our own boto3).
# uvicorn listens on loopback only: LWA is its sole client. The volume-mode container
# (container/relay/Dockerfile, VolumeMode=fargate in template.yaml) runs this same script with
# RELAY_HOST=0.0.0.0 (the load balancer connects to the task) and RELAY_KEEP_ALIVE_S above the ALB's
# idle timeout.
set -eu
TASK_ROOT="${LAMBDA_TASK_ROOT:-$(cd "$(dirname "$0")" && pwd)}"
export PYTHONPATH="${TASK_ROOT}:/opt/python${PYTHONPATH:+:${PYTHONPATH}}${LAMBDA_RUNTIME_DIR:+:${LAMBDA_RUNTIME_DIR}}"
exec python -m uvicorn --factory relay.app:app_from_env \
    --host "${RELAY_HOST:-127.0.0.1}" --port "${PORT:-8080}" \
    --loop uvloop --http httptools \
    --no-access-log --timeout-keep-alive "${RELAY_KEEP_ALIVE_S:-75}"
