#!/usr/bin/env bash
# Checks of the Terraform module in terraform/ (issue 5).
#
#   scripts/terraform-checks.sh lint        terraform fmt -check, init + validate of every module and
#                                           example, checkov -d terraform (zero failed checks, every
#                                           skip with an inline reason), README tables up to date
#   scripts/terraform-checks.sh test        terraform test in terraform/ (mock_provider "aws"), then
#                                           plan-offline
#   scripts/terraform-checks.sh plan-offline
#                                           terraform plan of every example and of
#                                           tests/offline/max_names with the REAL aws provider,
#                                           offline: fake credentials, no API call, so the
#                                           provider's own validation of names, ARNs and values
#                                           runs (what the mock provider and moto cannot see)
#   scripts/terraform-checks.sh apply-moto  apply examples/complete and examples/local against the
#                                           moto server at AWS_ENDPOINT_URL (scripts/services.sh up),
#                                           check outputs, SSM discovery and routing with boto3,
#                                           destroy, and check that nothing of theirs is left
#   scripts/terraform-checks.sh all         the three in order
#
# Offline here: providers come from /opt/tf-plugins when it exists (terraform init -plugin-dir),
# from the registry elsewhere. State, plugin data and placeholder zips live under
# .state/terraform-checks/ (gitignored); .terraform/ and lock files are gitignored too.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tf_root="$root/terraform"
state_root="$root/.state/terraform-checks"
plugin_dir=${KX_TF_PLUGIN_DIR:-/opt/tf-plugins}

mkdir -p "$state_root"
export TF_IN_AUTOMATION=1 TF_INPUT=0
# The machine's TF_CLI_CONFIG_FILE may name a file that does not exist: use an empty one of ours.
: >"$state_root/terraformrc"
export TF_CLI_CONFIG_FILE="$state_root/terraformrc"

log() { printf '[terraform-checks] %s\n' "$*" >&2; }
die() { log "FAIL: $*"; exit 1; }
now() { date +%s; }

tf_init() { # dir [extra args]
  local dir=$1; shift
  if [ -d "$plugin_dir" ]; then
    terraform -chdir="$dir" init -backend=false -input=false -no-color -plugin-dir="$plugin_dir" "$@" >/dev/null
  else
    terraform -chdir="$dir" init -backend=false -input=false -no-color "$@" >/dev/null
  fi
}

tf_dirs() {
  echo "$tf_root"
  find "$tf_root/modules" "$tf_root/examples" -mindepth 1 -maxdepth 1 -type d | sort
}

################################################################################
# lint
################################################################################

# checkov pins old boto3/botocore: installed into its own virtualenv (as .ci/run does) so that it
# cannot break moto and the boto3 checks of apply-moto.
ensure_checkov() {
  command -v checkov >/dev/null 2>&1 && return
  local venv="$root/.state/venv-checkov"
  if [ ! -x "$venv/bin/checkov" ]; then
    log "installing checkov (pip, into $venv)"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q checkov
  fi
  export PATH="$venv/bin:$PATH"
}

cmd_lint() {
  local t0; t0=$(now)
  log "terraform fmt -check -recursive terraform"
  terraform fmt -check -recursive -diff "$tf_root" || die "terraform fmt: run terraform fmt -recursive terraform"

  # One provider floor everywhere: 5.70 is the first release with tags on
  # aws_lambda_event_source_mapping (see versions.tf); this mirror has 5.100 only.
  log "every versions.tf requires hashicorp/aws >= 5.70, < 6.0 and terraform >= 1.9"
  local f bad=0
  while read -r f; do
    grep -q 'version = ">= 5.70, < 6.0"' "$f" && grep -q 'required_version = ">= 1.9"' "$f" \
      || { log "  ${f#"$root"/}: provider or terraform constraint differs"; bad=1; }
  done < <(find "$tf_root" -name versions.tf -not -path '*/.terraform/*')
  [ "$bad" = 0 ] || die "versions.tf constraints differ"

  local dir
  while read -r dir; do
    log "validate ${dir#"$root"/}"
    tf_init "$dir"
    terraform -chdir="$dir" validate -no-color >/dev/null || { terraform -chdir="$dir" validate -no-color; die "validate ${dir#"$root"/}"; }
  done < <(tf_dirs)

  ensure_checkov
  log "checkov -d terraform"
  local report="$state_root/checkov.json" rc=0
  checkov -d "$tf_root" --compact --quiet -o json --skip-download >"$report" 2>"$state_root/checkov.err" || rc=$?
  python3 - "$report" <<'PY' || die "checkov found failed checks (or did not run: see .state/terraform-checks/checkov.err)"
import json, sys
data = json.load(open(sys.argv[1]))
reports = data if isinstance(data, list) else [data]
passed = failed = skipped = 0
for r in reports:
    s = r.get("summary", {})
    passed += s.get("passed", 0); failed += s.get("failed", 0); skipped += s.get("skipped", 0)
    for c in r.get("results", {}).get("failed_checks", []):
        print(f"  FAILED {c['check_id']} {c['file_path']} {c['resource']}: {c['check_name']}", file=sys.stderr)
    for c in r.get("results", {}).get("skipped_checks", []):
        if not (c.get("suppress_comment") or "").strip():
            print(f"  SKIP WITHOUT REASON {c['check_id']} {c['file_path']} {c['resource']}", file=sys.stderr)
            failed += 1
print(f"[terraform-checks] checkov: {passed} passed, {failed} failed, {skipped} skipped (each skip has an inline reason)", file=sys.stderr)
sys.exit(1 if failed else 0)
PY
  [ "$rc" = 0 ] || die "checkov exited $rc"

  log "README tables (terraform/, modules/*, examples/*) match versions.tf, variables.tf and outputs.tf"
  python3 "$tf_root/tools/readme_tables.py" --check || die "README tables out of date"
  log "lint ok in $(( $(now) - t0 )) s"
}

################################################################################
# test
################################################################################

cmd_test() {
  local t0; t0=$(now)
  tf_init "$tf_root"
  log "terraform test (terraform/tests, mock_provider aws)"
  terraform -chdir="$tf_root" test -no-color
  log "test ok in $(( $(now) - t0 )) s"
  cmd_plan_offline
}

################################################################################
# plan-offline
################################################################################

# Plans run in a copy of terraform/ (the examples get an override file for their provider block),
# with a plugin cache so that only the first init copies the provider. The provider is told to
# make no call at all: fake credentials, no STS, no metadata API, no region check; the examples
# are given every value a data source would otherwise fetch (availability zones).
offline_plan() { # name dir [plan args]
  local name=$1 dir=$2; shift 2
  local out="$state_root/offline/$name.log" t
  t=$(now)
  (cd "$dir" && terraform init -backend=false -input=false -no-color >"$out.init" 2>&1) \
    || { cat "$out.init" >&2; die "plan-offline $name: init failed"; }
  if ! terraform -chdir="$dir" plan -refresh=false -lock=false -input=false -no-color "$@" >"$out" 2>&1; then
    grep -A12 -E '^(Error|│ Error)' "$out" >&2 || tail -30 "$out" >&2
    die "plan-offline $name: the real provider rejects the plan (log: $out)"
  fi
  log "plan-offline $name: $(grep -E '^Plan:' "$out" || echo 'no changes') ($(( $(now) - t )) s)"
}

cmd_plan_offline() {
  local t0; t0=$(now)
  local work="$state_root/offline/terraform"
  rm -rf "$state_root/offline"
  mkdir -p "$work" "$state_root/plugin-cache"
  (cd "$tf_root" && tar --exclude=.terraform --exclude='.terraform.lock.hcl' --exclude='terraform.tfstate*' -cf - .) | (cd "$work" && tar -xf -)
  if [ -d "$plugin_dir" ]; then
    printf 'plugin_cache_dir = "%s"\nprovider_installation {\n  filesystem_mirror {\n    path = "%s"\n  }\n}\n' \
      "$state_root/plugin-cache" "$plugin_dir" >"$state_root/offline/terraformrc"
  else
    printf 'plugin_cache_dir = "%s"\n' "$state_root/plugin-cache" >"$state_root/offline/terraformrc"
  fi
  local override='provider "aws" {
  region                      = "us-east-1"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
}'
  local ex
  for ex in complete existing-vpc local; do
    printf '%s\n' "$override" >"$work/examples/$ex/zz_offline_override.tf"
  done
  local zip="$work/tests/fixtures/package.placeholder"
  (
    export TF_CLI_CONFIG_FILE="$state_root/offline/terraformrc"
    export AWS_ACCESS_KEY_ID=AKIAOFFLINEPLANONLY00 AWS_SECRET_ACCESS_KEY=offline-plan-not-a-secret AWS_REGION=us-east-1
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL
    offline_plan complete "$work/examples/complete" -var "consumer_package_path=$zip" -var "query_package_path=$zip" -var 'vpc_azs=["us-east-1a","us-east-1b"]'
    offline_plan existing-vpc "$work/examples/existing-vpc" -var "consumer_package_path=$zip" \
      -var vpc_id=vpc-0123456789abcdef0 -var 'private_subnet_ids=["subnet-0aaaaaaaaaaaaaaaa","subnet-0bbbbbbbbbbbbbbbb"]'
    offline_plan local "$work/examples/local" -var "consumer_package_path=$zip" -var aws_endpoint_url=http://127.0.0.1:9 -var db_password=offline
    offline_plan max-names "$work/tests/offline/max_names"
  )
  log "plan-offline ok in $(( $(now) - t0 )) s"
}

################################################################################
# apply-moto
################################################################################

run_id=""
pending_destroy=()

private_moto_pid=""

managed_policies_loaded() { # endpoint
  AWS_ENDPOINT_URL=$1 python3 - <<'PY' 2>/dev/null
import os, boto3
iam = boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1")
iam.get_policy(PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole")
PY
}

# The consumer in a VPC gets AWS managed policies (AWSLambdaVPCAccessExecutionRole,
# AWSXRayDaemonWriteAccess); moto knows them only when started with
# MOTO_IAM_LOAD_MANAGED_POLICIES=true. Use the given server (AWS_ENDPOINT_URL, else .state/env)
# when it has them, otherwise start a private moto server for this run and stop it afterwards.
moto_env() {
  if [ -z "${AWS_ENDPOINT_URL:-}" ] && [ -f "$root/.state/env" ]; then
    # shellcheck disable=SC1091
    source "$root/.state/env"
  fi
  export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-testing} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-testing}
  export AWS_REGION=${AWS_REGION:-us-east-1}
  export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-$AWS_REGION}
  python3 -c 'import boto3' 2>/dev/null || python3 -m pip install -q boto3

  if [ -n "${AWS_ENDPOINT_URL:-}" ] && curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null && managed_policies_loaded "$AWS_ENDPOINT_URL"; then
    log "using the moto server at $AWS_ENDPOINT_URL"
    return
  fi
  if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
    log "the moto server at $AWS_ENDPOINT_URL does not answer or was started without MOTO_IAM_LOAD_MANAGED_POLICIES=true: starting a private one"
  fi
  if ! command -v moto_server >/dev/null || ! python3 -c 'import moto, flask' 2>/dev/null; then
    log "installing moto[server] (pip)"
    python3 -m pip install -q 'moto[server]>=5,<6'
  fi
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup moto_server -H 127.0.0.1 -p "$port" >"$state_root/$run_id/moto.log" 2>&1 &
  private_moto_pid=$!
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    curl -sf "$AWS_ENDPOINT_URL/moto-api/" >/dev/null 2>&1 && { log "private moto server at $AWS_ENDPOINT_URL (pid $private_moto_pid)"; return; }
    sleep 0.2
  done
  die "private moto server did not start: see $state_root/$run_id/moto.log"
}

stop_private_moto() {
  if [ -n "$private_moto_pid" ]; then
    kill "$private_moto_pid" 2>/dev/null || true
    private_moto_pid=""
  fi
}

# Each example runs in its own directory under .state/terraform-checks/<run>/<example>/ with its
# own TF_DATA_DIR and state file, and its own name prefix, so runs never collide in one moto.
example_tf() { # example verb [args]
  local example=$1; shift
  local verb=$1; shift
  local dir="$state_root/$run_id/$example"
  TF_DATA_DIR="$dir/tfdata" terraform -chdir="$tf_root/examples/$example" "$verb" -no-color "$@"
}

example_vars() { # example
  local example=$1 prefix="$run_id-${1:0:5}"
  local vars=(-var "name_prefix=$prefix" -var "service_name=$prefix-svc" -var "consumer_package_path=$state_root/$run_id/bootstrap.zip" -var "region=$AWS_REGION")
  case $example in
    complete) vars+=(-var emulator=true -var "query_package_path=$state_root/$run_id/bootstrap.zip") ;;
    local) vars+=(-var "aws_endpoint_url=$AWS_ENDPOINT_URL" -var "db_password=${KX_PG_PASSWORD:-kx}" -var "db_username=${KX_PG_USER:-kx}") ;;
  esac
  printf '%s\n' "${vars[@]}"
}

destroy_pending() {
  local example
  for example in "${pending_destroy[@]}"; do
    [ -n "$example" ] || continue
    log "cleanup: destroying $example after a failure"
    mapfile -t vars < <(example_vars "$example")
    example_tf "$example" destroy -auto-approve -input=false -state="$state_root/$run_id/$example/terraform.tfstate" "${vars[@]}" >"$state_root/$run_id/$example/cleanup.log" 2>&1 \
      || log "cleanup of $example failed: see $state_root/$run_id/$example/cleanup.log"
  done
}

cleanup() {
  destroy_pending
  stop_private_moto
}

apply_example() { # example -> applies, checks, plans, destroys, checks
  local example=$1 dir="$state_root/$run_id/$1" prefix="$run_id-${1:0:5}" t
  mkdir -p "$dir"
  local statef="$dir/terraform.tfstate"
  mapfile -t vars < <(example_vars "$example")

  log "$example: init"
  if [ -d "$plugin_dir" ]; then
    example_tf "$example" init -backend=false -input=false -plugin-dir="$plugin_dir" >/dev/null
  else
    example_tf "$example" init -backend=false -input=false >/dev/null
  fi

  log "$example: apply against $AWS_ENDPOINT_URL (prefix $prefix)"
  pending_destroy+=("$example")
  t=$(now)
  example_tf "$example" apply -auto-approve -input=false -state="$statef" "${vars[@]}" >"$dir/apply.log" 2>&1 \
    || { tail -40 "$dir/apply.log" >&2; die "$example: apply failed (log: $dir/apply.log)"; }
  local apply_s=$(( $(now) - t ))
  log "$example: applied in $apply_s s"

  example_tf "$example" output -json -state="$statef" >"$dir/outputs.json"
  python3 "$state_root/verify.py" applied "$example" "$prefix" "$dir/outputs.json" \
    || die "$example: checks after apply failed"

  log "$example: plan after apply (expect no changes)"
  local rc=0
  example_tf "$example" plan -detailed-exitcode -input=false -state="$statef" "${vars[@]}" >"$dir/plan.log" 2>&1 || rc=$?
  case $rc in
    0) log "$example: plan after apply is clean" ;;
    2) local changes unexplained
       changes=$(sed -n 's/^  # \(.*\) \(will be\|must be\).*/\1/p' "$dir/plan.log")
       # moto gaps, measured: it returns no user parameters of a DB parameter group and no
       # description of a security group rule that references a group; the subscription's SSM
       # look-up then waits for apply (depends_on), so its rule shows as replaced.
       unexplained=$(grep -vE 'aws_db_parameter_group\.this$|aws_vpc_security_group_(ingress|egress)_rule\.|_subscription\.|^module\.subscription\.' <<<"$changes" || true)
       if [ "$example" = complete ] && [ -z "$unexplained" ]; then
         log "$example: plan after apply shows only moto's known gaps: $(tr '\n' ' ' <<<"$changes")"
       else
         printf '  %s\n' "$changes" >&2
         die "$example: plan after apply wants changes (log: $dir/plan.log)"
       fi ;;
    *) tail -20 "$dir/plan.log" >&2; die "$example: plan failed (log: $dir/plan.log)" ;;
  esac

  log "$example: destroy"
  t=$(now)
  example_tf "$example" destroy -auto-approve -input=false -state="$statef" "${vars[@]}" >"$dir/destroy.log" 2>&1 \
    || { tail -40 "$dir/destroy.log" >&2; die "$example: destroy failed (log: $dir/destroy.log)"; }
  local destroy_s=$(( $(now) - t ))
  pending_destroy=("${pending_destroy[@]/$example}")
  log "$example: destroyed in $destroy_s s"

  python3 "$state_root/verify.py" destroyed "$example" "$prefix" "$dir/outputs.json" \
    || die "$example: resources left behind after destroy"
  echo "$example apply_s=$apply_s destroy_s=$destroy_s" >>"$state_root/$run_id/timings"
}

# The boto3 checks run after apply and after destroy (kept here so this script is self-contained).
write_verifier() {
  cat >"$state_root/verify.py" <<'PY'
"""Checks of an applied (or destroyed) kx-events example against moto, with boto3 only."""
import json
import os
import sys
import time

import boto3
from botocore.exceptions import ClientError

phase, example, prefix, outputs_path = sys.argv[1:5]
endpoint = os.environ["AWS_ENDPOINT_URL"]
region = os.environ.get("AWS_REGION", "us-east-1")
outputs = {k: v["value"] for k, v in json.load(open(outputs_path)).items()}
failures = []


def client(name):
    return boto3.client(name, endpoint_url=endpoint, region_name=region)


def check(cond, what):
    print(f"  {'ok  ' if cond else 'FAIL'} {what}", file=sys.stderr)
    if not cond:
        failures.append(what)


sqs, ssm, events, lam = client("sqs"), client("ssm"), client("events"), client("lambda")
service = f"{prefix}-svc"
env_keys = {"DB_SECRET_ARN", "DB_HOST", "DB_PORT", "DB_NAME", "DB_SSLMODE", "EVENT_BUS_NAME",
            "EVENT_SOURCE", "DEAD_LETTER_QUEUE_URL", "MAX_RECEIVE_COUNT"}
if example == "complete":
    env_keys = env_keys | {"KX_MIGRATE"}


def applied():
    o = outputs
    seed_exports = ["queue_url", "dead_letter_queue_url", "event_bus_name", "db_secret_arn"]
    if example == "complete":
        seed_exports += ["vpc_id", "private_subnet_ids", "public_subnet_ids", "db_instance_endpoint",
                         "db_instance_port", "db_security_group_id", "queue_arn", "dead_letter_queue_arn",
                         "event_bus_arn", "consumer_function_arn", "producer_policy_json", "producer_environment"]
    for k in seed_exports:
        check(o.get(k) not in (None, "", []), f"output {k} is set")

    # Queues: visibility 360 (6x the 60 s function timeout), redrive to the DLQ after 3, 14-day DLQ, SSE, TLS-only policy.
    qa = sqs.get_queue_attributes(QueueUrl=o["queue_url"], AttributeNames=["All"])["Attributes"]
    da = sqs.get_queue_attributes(QueueUrl=o["dead_letter_queue_url"], AttributeNames=["All"])["Attributes"]
    check(qa["VisibilityTimeout"] == "360", "events queue visibility timeout 360 s (6x the function timeout)")
    rp = json.loads(qa.get("RedrivePolicy", "{}"))
    check(rp.get("deadLetterTargetArn") == da["QueueArn"] and int(rp.get("maxReceiveCount", 0)) == 3,
          "redrive to the DLQ after 3 receives")
    check(da["MessageRetentionPeriod"] == "1209600", "DLQ keeps messages 14 days")
    check(qa.get("SqsManagedSseEnabled") == "true" and da.get("SqsManagedSseEnabled") == "true", "both queues SSE")
    for name, attrs in (("events queue", qa), ("DLQ", da)):
        pol = json.loads(attrs.get("Policy", "{}"))
        check(any(s.get("Effect") == "Deny" for s in pol.get("Statement", [])), f"{name} policy denies insecure transport")

    # Bus and discovery parameters.
    bus = events.describe_event_bus(Name=o["event_bus_name"])
    check(bus["Arn"].endswith(f"event-bus/{o['event_bus_name']}"), "event bus exists")
    names = o["ssm_parameter_names"]
    check(names == {"arn": f"/eventbridge/services/{service}/arn", "info": f"/eventbridge/services/{service}/info"},
          "ssm_parameter_names output")
    arn_param = ssm.get_parameter(Name=names["arn"])["Parameter"]
    check(arn_param["Type"] == "String" and arn_param["Value"] == bus["Arn"], "SSM /arn holds the bus ARN")
    info = json.loads(ssm.get_parameter(Name=names["info"])["Parameter"]["Value"])
    check(info == {"serviceName": service, "eventBusName": o["event_bus_name"], "eventBusArn": bus["Arn"],
                   "source": "kx-event-tracking", "region": region, "detailTypeFormat": "{entityType}.{eventType}"},
          "SSM /info holds bus name, ARN, source, region, detail-type format")

    # Consumer: the function as declared, its environment exactly the output, the mapping disabled.
    env = o["consumer_environment"]
    check(env_keys <= set(env), "consumer_environment has the contract variables")
    fn = lam.get_function(FunctionName=o.get("consumer_function_name") or f"{prefix}-events-consumer")["Configuration"]
    check(fn["Runtime"] == "provided.al2023" and fn["Handler"] == "bootstrap" and fn.get("Architectures") == ["arm64"],
          "consumer is provided.al2023/arm64/bootstrap")
    check(fn.get("Environment", {}).get("Variables") == env, "function environment == consumer_environment output")
    check(env["EVENT_BUS_NAME"] == o["event_bus_name"] and env["DEAD_LETTER_QUEUE_URL"] == o["dead_letter_queue_url"]
          and env["MAX_RECEIVE_COUNT"] == "3" and env["DB_SECRET_ARN"] == o["consumer_db_secret_arn"], "consumer env points at the stack")
    if example == "complete":
        # The consumer logs in as its own role; the migrate function (never invoked by moto) has the master's.
        check(o["consumer_db_secret_arn"] != o["db_secret_arn"] and env.get("KX_MIGRATE") == "off",
              "consumer uses the application role's secret, KX_MIGRATE=off")
        mig = lam.get_function(FunctionName=o["migrate_function_name"])["Configuration"]
        menv = mig.get("Environment", {}).get("Variables", {})
        check(menv.get("KX_MODE") == "migrate" and menv.get("DB_SECRET_ARN") == o["db_secret_arn"]
              and menv.get("KX_APP_ROLE_SECRET_ARN") == o["consumer_db_secret_arn"] and menv.get("KX_APP_ROLE_NAME") == "kx_events_consumer",
              "migrate function: KX_MODE=migrate, master secret, application role secret and name")
        desc = client("secretsmanager").describe_secret(SecretId=o["consumer_db_secret_arn"])
        check(not desc.get("VersionIdsToStages"), "application role secret created without a value (the migrate function writes it)")
        # The query API: its function on the read-only role's secret (provisioned by the migrate
        # function with the erasure role's), an HTTP API with every route under IAM authorization.
        qfn = lam.get_function(FunctionName=o["query_function_arn"])["Configuration"]
        qenv = qfn.get("Environment", {}).get("Variables", {})
        check(qfn["Runtime"] == "provided.al2023" and qfn.get("Architectures") == ["arm64"]
              and set(qfn.get("VpcConfig", {}).get("SubnetIds") or []) == set(o["private_subnet_ids"]),
              "query function: provided.al2023/arm64 in the private subnets")
        check(qenv.get("DB_SECRET_ARN") == menv.get("KX_QUERY_ROLE_SECRET_ARN") and qenv.get("DB_SECRET_ARN") not in (None, o["db_secret_arn"], o["consumer_db_secret_arn"])
              and qenv.get("KX_ERASER_SECRET_ARN") == menv.get("KX_ERASER_ROLE_SECRET_ARN") and qenv.get("EVENTS_QUEUE_URL") == o["queue_url"],
              "query function: read-only role secret, erasure role secret, events queue (both roles provisioned by the migrate function)")
        apigw = client("apigatewayv2")
        api_id = o["query_api_url"].split("//")[1].split(".")[0]
        routes = {r["RouteKey"]: r for r in apigw.get_routes(ApiId=api_id)["Items"]}
        check(set(routes) == {"GET /events", "POST /events", "DELETE /events", "GET /events/{eventId}", "GET /events/{eventId}/chain",
                              "GET /events/chain/{eventId}", "GET /events/{eventId}/ancestors", "GET /analytics", "GET /openapi.json"},
              f"query API routes: {sorted(routes)}")
        check(all(r.get("AuthorizationType") == "AWS_IAM" for r in routes.values()), "every query route uses IAM authorization")
        stage = apigw.get_stage(ApiId=api_id, StageName="$default")
        check(stage.get("AccessLogSettings", {}).get("DestinationArn", "").endswith(f"/aws/apigateway/{prefix}-events-query")
              and stage.get("DefaultRouteSettings", {}).get("ThrottlingRateLimit") == 100, "query API stage: access log, throttling")
    else:
        check(env["DB_SECRET_ARN"] == o["db_secret_arn"] and "KX_MIGRATE" not in env, "existing database: its secret, KX_MIGRATE default")
    # Filtered here: moto's FunctionName filter matches ARNs only.
    esms = [m for m in lam.list_event_source_mappings()["EventSourceMappings"] if m.get("FunctionArn") == fn["FunctionArn"]]
    check(len(esms) == 1 and esms[0]["State"] in ("Disabled", "Disabling") and esms[0]["BatchSize"] == 100
          and esms[0].get("MaximumBatchingWindowInSeconds") == 1, "mapping: disabled (moto), batch 100, window 1 s")
    if example == "complete":
        check(esms and esms[0].get("ScalingConfig", {}).get("MaximumConcurrency") == 56,
              "mapping: maximum concurrency 56 (half of db.t4g.micro's 112 connections)")
    check(esms and esms[0].get("FunctionResponseTypes") == ["ReportBatchItemFailures"], "mapping reports batch item failures")

    # Database secret readable.
    secret = client("secretsmanager").get_secret_value(SecretId=o["db_secret_arn"])
    check({"username", "password"} <= set(json.loads(secret["SecretString"])), "DB secret has username and password")

    # Alarms.
    alarms = [a["AlarmName"] for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]]
    # Queue (2) + consumer errors/throttles/duration/outbox backlog/publish failed (5) + the
    # subscription's (2); complete adds RDS CPU/storage/connections (3).
    expected = 12 if example == "complete" else 9
    check(len(alarms) == expected, f"{expected} alarms (queue, consumer, subscription{', database' if example == 'complete' else ''}): {alarms}")
    emf = {a["AlarmName"]: a for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]
           if a.get("MetricName") in ("OutboxBacklog", "PublishFailed")}
    check(len(emf) == 2 and all(a.get("Namespace") == o["consumer_metrics_namespace"] for a in emf.values()),
          f"alarms on the consumer's EMF metrics (OutboxBacklog, PublishFailed) in namespace {o['consumer_metrics_namespace']}")

    # Dashboard.
    dashboard = o.get("dashboard_name")
    body = json.loads(client("cloudwatch").get_dashboard(DashboardName=dashboard)["DashboardBody"]) if dashboard else {}
    metrics = {m[1] for w in body.get("widgets", []) for m in w["properties"]["metrics"]}
    check({"EventsReceived", "OutboxBacklog", "EndToEndLatency", "ApproximateNumberOfMessagesVisible", "Errors"} <= metrics,
          f"dashboard {dashboard} with the consumer's metrics, the queues and the function")

    # Producers.
    penv = o["producer_environment"]
    check(penv == {"EVENTS_QUEUE_URL": o["queue_url"], "EVENT_BUS_NAME": o["event_bus_name"], "EVENT_SOURCE": "kx-event-tracking"},
          "producer_environment")

    if example == "complete":
        rds = client("rds").describe_db_instances(DBInstanceIdentifier=f"{prefix}-db")["DBInstances"][0]
        check(rds["Engine"] == "postgres" and rds["EngineVersion"].startswith("16"), "RDS PostgreSQL 16")
        check(rds["PubliclyAccessible"] is False and rds["StorageEncrypted"] is True and rds["BackupRetentionPeriod"] == 7,
              "RDS private, encrypted, 7 days of backups")
        groups = {g["logGroupName"]: g for g in client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/rds/instance/{prefix}-db/")["logGroups"]}
        check(set(groups) == {f"/aws/rds/instance/{prefix}-db/postgresql", f"/aws/rds/instance/{prefix}-db/upgrade"}
              and all(g.get("retentionInDays") == 30 for g in groups.values()), "RDS log groups managed, 30 days retention")
        check(rds.get("MasterUserSecret", {}).get("SecretArn") == o["db_secret_arn"], "db_secret_arn is the RDS-managed secret")
        check(o["db_instance_endpoint"] == rds["Endpoint"]["Address"] and o["db_instance_port"] == rds["Endpoint"]["Port"],
              "db_instance_endpoint/port are the instance's")
        check(fn.get("VpcConfig", {}).get("SubnetIds") and set(fn["VpcConfig"]["SubnetIds"]) == set(o["private_subnet_ids"]),
              "consumer in the private subnets")
        ec2 = client("ec2")
        sgs = {g["GroupId"]: g for g in ec2.describe_security_groups(GroupIds=[o["db_security_group_id"], o["consumer_security_group_id"]])["SecurityGroups"]}
        csg, dsg = sgs[o["consumer_security_group_id"]], sgs[o["db_security_group_id"]]
        check(csg["IpPermissions"] == [], "consumer SG has no ingress")
        check(sorted(p.get("FromPort") for p in csg["IpPermissionsEgress"]) == [443, 5432], "consumer SG egress 443 and 5432 only")
        query_sgs = lam.get_function(FunctionName=o["query_function_arn"])["Configuration"].get("VpcConfig", {}).get("SecurityGroupIds", [])
        check(set(p.get("FromPort") for p in dsg["IpPermissions"]) == {5432}
              and sorted(u["GroupId"] for p in dsg["IpPermissions"] for u in p.get("UserIdGroupPairs", [])) == sorted([csg["GroupId"]] + query_sgs)
              and len(query_sgs) == 1 and query_sgs[0] != csg["GroupId"],
              "DB SG ingress 5432 from the consumer's and the query API's security groups only")
        pol = json.loads(o["producer_policy_json"])
        check(sorted(a for s in pol["Statement"] for a in s["Action"]) == ["events:PutEvents", "sqs:SendMessage"],
              "producer policy: sqs:SendMessage + events:PutEvents")
        target_queue, detail_type = o["user_events_queue_url"], "user.user_created"
    else:
        target_queue, detail_type = o["subscriber_queue_url"], "order.order_created"

    # Routing: an entry put on the bus reaches the subscriber found through SSM discovery.
    detail = {"eventId": "00000000-0000-4000-8000-000000000001", "entityType": detail_type.split(".")[0],
              "eventType": detail_type.split(".")[1], "occurredAt": "2024-01-15T10:30:00.000Z"}
    res = events.put_events(Entries=[{"Source": "kx-event-tracking", "DetailType": detail_type,
                                      "Detail": json.dumps(detail), "EventBusName": o["event_bus_name"]}])
    check(res["FailedEntryCount"] == 0, "PutEvents on the bus")
    got = []
    deadline = time.time() + 10
    while not got and time.time() < deadline:
        got = sqs.receive_message(QueueUrl=target_queue, WaitTimeSeconds=1, MaxNumberOfMessages=10).get("Messages", [])
    envelope = json.loads(got[0]["Body"]) if got else {}
    check(envelope.get("detail-type") == detail_type and envelope.get("detail", {}).get("eventId") == detail["eventId"],
          "the subscription routed the entry to its SQS target")


def destroyed():
    left = []
    qs = sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    left += [f"queue {q}" for q in qs]
    left += [f"bus {b['Name']}" for b in events.list_event_buses(NamePrefix=prefix).get("EventBuses", [])]
    left += [f"function {f['FunctionName']}" for f in lam.list_functions().get("Functions", []) if f["FunctionName"].startswith(prefix)]
    left += [f"mapping {m['UUID']}" for m in lam.list_event_source_mappings().get("EventSourceMappings", []) if f":function:{prefix}" in m.get("FunctionArn", "")]
    left += [f"parameter {p['Name']}" for p in ssm.get_parameters_by_path(Path=f"/eventbridge/services/{service}", Recursive=True).get("Parameters", [])]
    left += [f"alarm {a['AlarmName']}" for a in client("cloudwatch").describe_alarms(AlarmNamePrefix=prefix)["MetricAlarms"]]
    left += [f"dashboard {d['DashboardName']}" for d in client("cloudwatch").list_dashboards(DashboardNamePrefix=prefix).get("DashboardEntries", [])]
    left += [f"log group {g['logGroupName']}" for g in client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{prefix}").get("logGroups", [])]
    left += [f"log group {g['logGroupName']}" for g in client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/rds/instance/{prefix}").get("logGroups", [])]
    left += [f"log group {g['logGroupName']}" for g in client("logs").describe_log_groups(logGroupNamePrefix=f"/aws/apigateway/{prefix}").get("logGroups", [])]
    left += [f"http api {a['Name']}" for a in client("apigatewayv2").get_apis().get("Items", []) if a["Name"].startswith(prefix)]
    left += [f"role {r['RoleName']}" for r in client("iam").list_roles()["Roles"] if r["RoleName"].startswith(prefix)]
    left += [f"policy {p['PolicyName']}" for p in client("iam").list_policies(Scope="Local")["Policies"] if p["PolicyName"].startswith(prefix)]
    left += [f"topic {t['TopicArn']}" for t in client("sns").list_topics().get("Topics", []) if t["TopicArn"].split(":")[-1].startswith(prefix)]
    sm = client("secretsmanager")
    for s in sm.list_secrets().get("SecretList", []):
        if s["Name"].startswith(prefix) or s["ARN"] == outputs.get("db_secret_arn"):
            left.append(f"secret {s['Name']}")
    rds = client("rds")
    left += [f"db {d['DBInstanceIdentifier']}" for d in rds.describe_db_instances()["DBInstances"] if d["DBInstanceIdentifier"].startswith(prefix)]
    ec2 = client("ec2")
    if outputs.get("vpc_id"):
        left += [f"vpc {v['VpcId']}" for v in ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [outputs["vpc_id"]]}])["Vpcs"]]
    left += [f"security group {g['GroupName']}" for g in ec2.describe_security_groups()["SecurityGroups"] if g["GroupName"].startswith(prefix)]
    left += [f"elastic ip {a['AllocationId']}" for a in ec2.describe_addresses()["Addresses"]
             if any(t["Key"] == "Name" and t["Value"].startswith(prefix) for t in a.get("Tags", []))]
    check(not left, f"nothing of {prefix} left after destroy{': ' + ', '.join(left) if left else ''}")


print(f"[terraform-checks] {example}: checks after {'apply' if phase == 'applied' else 'destroy'}", file=sys.stderr)
try:
    applied() if phase == "applied" else destroyed()
except (ClientError, KeyError, IndexError) as e:
    check(False, f"unexpected: {type(e).__name__}: {e}")
sys.exit(1 if failures else 0)
PY
}

cmd_apply_moto() {
  local t0; t0=$(now)
  # Lowercase, starts with a letter, short: the prefix goes into RDS, SQS, Lambda and bus names.
  run_id="tfchk$(date +%H%M%S)$((RANDOM % 10))"
  mkdir -p "$state_root/$run_id"
  trap cleanup EXIT
  moto_env
  write_verifier

  # moto stores the function's zip but never runs it: any zip will do.
  (cd "$state_root/$run_id" && printf '#!/bin/sh\necho "placeholder: build the real one with make package"\n' >bootstrap \
    && python3 -m zipfile -c bootstrap.zip bootstrap)

  local examples=("$@")
  [ ${#examples[@]} -gt 0 ] || examples=(complete local)
  # The examples have distinct prefixes, state and data dirs: they run side by side (most of an
  # apply is the provider waiting on RDS and SQS). Each destroys its own resources on failure.
  local example pids=() failed=()
  for example in "${examples[@]}"; do
    mkdir -p "$state_root/$run_id/$example"
    ( trap destroy_pending EXIT; apply_example "$example" ) >"$state_root/$run_id/$example/run.log" 2>&1 &
    pids+=($!)
    log "$example: running (log $state_root/$run_id/$example/run.log)"
  done
  local i
  for i in "${!examples[@]}"; do
    if ! wait "${pids[$i]}"; then failed+=("${examples[$i]}"); fi
    cat "$state_root/$run_id/${examples[$i]}/run.log" >&2
  done
  [ ${#failed[@]} -eq 0 ] || die "apply-moto failed for: ${failed[*]}"
  log "apply-moto ok in $(( $(now) - t0 )) s: $(tr '\n' ';' <"$state_root/$run_id/timings")"
}

case "${1:-}" in
  lint) cmd_lint ;;
  test) cmd_test ;;
  plan-offline) cmd_plan_offline ;;
  apply-moto) shift; cmd_apply_moto "$@" ;;
  all) cmd_lint; cmd_test; cmd_apply_moto ;;
  *) echo "usage: $0 lint|test|plan-offline|apply-moto [complete|local ...]|all" >&2; exit 2 ;;
esac
