#!/usr/bin/env bash
# Checks of the Terraform module in terraform/.
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
#   scripts/terraform-checks.sh apply-moto [complete|local ...]
#                                           apply examples/complete and examples/local against the
#                                           moto server at AWS_ENDPOINT_URL (scripts/services.sh up;
#                                           a private one when it lacks the AWS managed policies),
#                                           check outputs, SSM discovery and routing with the AWS
#                                           SDK, plan (no changes but moto's known gaps), destroy,
#                                           and check that nothing of theirs is left: the Rust
#                                           binary kx-events-apply-moto (testkit/src/apply_moto/),
#                                           built with cargo into CARGO_TARGET_DIR
#   scripts/terraform-checks.sh all         the three in order
#
# Offline here: providers come from /opt/tf-plugins (KX_TF_PLUGIN_DIR) when it exists (terraform
# init -plugin-dir), from the registry elsewhere. State, plugin data, logs and placeholder zips live
# under .state/terraform-checks/ (gitignored; apply-moto: <run>/<example>/); .terraform/ and lock
# files are gitignored too.
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
# cannot break moto.
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
# apply-moto: the kx-events-apply-moto binary (testkit/src/apply_moto/)
################################################################################

cmd_apply_moto() {
  (cd "$root" && exec cargo run --quiet -p kx-events-testkit --bin kx-events-apply-moto -- "$@")
}

case "${1:-}" in
  lint) cmd_lint ;;
  test) cmd_test ;;
  plan-offline) cmd_plan_offline ;;
  apply-moto) shift; cmd_apply_moto "$@" ;;
  all) cmd_lint; cmd_test; cmd_apply_moto ;;
  *) echo "usage: $0 lint|test|plan-offline|apply-moto [complete|local ...]|all" >&2; exit 2 ;;
esac
