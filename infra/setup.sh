#!/usr/bin/env bash
# `make setup`: install everything Headwater needs, idempotently. Each step records a stamp holding the
# hash of its inputs (pom, pinned versions, lock file); a second run skips every step whose inputs did
# not change and takes seconds. All downloads happen here: PyPI, Maven Central, the Go module proxy,
# Debian packages. Nothing is downloaded when the stack or the jobs run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="${HEADWATER_TOOLS_DIR:-$ROOT/.tools}"
VENV="$ROOT/.venv"
STAMPS="$TOOLS/stamps"
mkdir -p "$TOOLS/bin" "$STAMPS"

FERRETDB_VERSION="v1.24.0"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }
fresh() { [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { echo "$2" > "$STAMPS/$1"; }

# --- Debian packages: only what this kind of machine may lack -------------------------------------
need_apt=()
command -v java >/dev/null || need_apt+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${need_apt[*]} and no apt-get to install them"
  say "apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
command -v go >/dev/null || die "Go toolchain not found (needed to build FerretDB and MinIO); install Go 1.24+"
PY="$(command -v python3.11 || command -v python3)"
"$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || die "Python 3.11 required, found $("$PY" --version)"

# --- Python virtualenv ------------------------------------------------------------------------------
key="$(hash_of "$ROOT/pyproject.toml" "$ROOT/requirements.lock")"
if fresh venv "$key" && [ -x "$VENV/bin/python" ]; then
  say "python venv up to date"
else
  say "python venv: installing apache-flink and dependencies (first run: about 2 minutes)"
  [ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -c "$ROOT/requirements.lock" --config-settings editable_mode=compat -e "$ROOT[test]"
  stamp venv "$key"
fi

# --- Java artifacts from Maven Central ------------------------------------------------------------
key="$(hash_of "$ROOT/infra/maven/kafka-broker/pom.xml")"
if fresh kafka-jars "$key" && ls "$TOOLS"/kafka/libs/kafka_2.13-*.jar >/dev/null 2>&1; then
  say "kafka broker jars up to date"
else
  say "kafka broker jars from Maven Central"
  rm -rf "$TOOLS/kafka/libs"
  mvn -q -B -f "$ROOT/infra/maven/kafka-broker/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$TOOLS/kafka/libs" -DincludeScope=runtime
  stamp kafka-jars "$key"
fi

key="$(hash_of "$ROOT/infra/maven/flink-jars/pom.xml")"
if fresh flink-jars "$key" && ls "$TOOLS"/flink/connectors/*.jar >/dev/null 2>&1; then
  say "flink connector and S3 plugin jars up to date"
else
  say "flink kafka connector and s3-fs-presto plugin from Maven Central"
  rm -rf "$TOOLS/flink"
  mvn -q -B -f "$ROOT/infra/maven/flink-jars/pom.xml" package -Djars.dir="$TOOLS/flink"
  stamp flink-jars "$key"
fi

# --- Headwater's Java helpers for Flink (compiled against the flink-dist jar in the wheel) ----------
key="$(hash_of "$ROOT"/common/flink/java/headwater/flink/*.java "$ROOT/pyproject.toml" "$ROOT/infra/maven/flink-jars/pom.xml")"
support_jar="$TOOLS/flink/connectors/headwater-flink-support.jar"
if fresh flink-support "$key" && [ -f "$support_jar" ]; then
  say "headwater-flink-support.jar up to date"
else
  say "headwater-flink-support.jar: javac"
  flink_dist="$(ls "$VENV"/lib/python3.11/site-packages/pyflink/lib/flink-dist-*.jar)"
  build="$TOOLS/build/flink-support" && rm -rf "$build" && mkdir -p "$build"
  kafka_connector="$(ls "$TOOLS"/flink/connectors/flink-sql-connector-kafka-*.jar)"
  javac --release 17 -nowarn -cp "$flink_dist:$kafka_connector" -d "$build" "$ROOT"/common/flink/java/headwater/flink/*.java
  jar cf "$support_jar" -C "$build" .
  rm -rf "$build"
  stamp flink-support "$key"
fi

# --- Flink's Prometheus reporter: the plugin ships in the PyFlink wheel; Flink loads it from plugins/ --
prometheus_jar="$(ls "$VENV"/lib/python3.11/site-packages/pyflink/plugins/metrics-prometheus/flink-metrics-prometheus-*.jar)"
prometheus_dir="$TOOLS/flink/plugins/metrics-prometheus"
if [ -f "$prometheus_dir/$(basename "$prometheus_jar")" ]; then
  say "prometheus metrics plugin up to date"
else
  say "prometheus metrics plugin from the PyFlink wheel"
  rm -rf "$prometheus_dir" && mkdir -p "$prometheus_dir" && cp "$prometheus_jar" "$prometheus_dir/"
fi

# --- Go binaries from the Go module proxy ----------------------------------------------------------
if fresh ferretdb "$FERRETDB_VERSION" && [ -x "$TOOLS/bin/ferretdb" ]; then
  say "ferretdb $FERRETDB_VERSION up to date"
else
  # `go install ...@version` fails here (the proxy refuses FerretDB's version list, which go install
  # reads for deprecation notices), and the module zip lacks the generated build/version/version.txt.
  # So: fetch the pinned module, add the version file, build it as its own main module.
  say "ferretdb $FERRETDB_VERSION: go build (first run: about 2 minutes)"
  src="$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$TOOLS/build/ferretdb" && mkdir -p "$TOOLS/build"
  cp -r "$src" "$TOOLS/build/ferretdb" && chmod -R u+w "$TOOLS/build/ferretdb"
  echo "$FERRETDB_VERSION" > "$TOOLS/build/ferretdb/build/version/version.txt"
  (cd "$TOOLS/build/ferretdb" && go build -trimpath -o "$TOOLS/bin/ferretdb" ./cmd/ferretdb)
  rm -rf "$TOOLS/build/ferretdb"
  stamp ferretdb "$FERRETDB_VERSION"
fi

if fresh minio "$MINIO_VERSION" && [ -x "$TOOLS/bin/minio" ]; then
  say "minio up to date"
else
  say "minio $MINIO_VERSION: go install (first run: about 5 minutes)"
  GOBIN="$TOOLS/bin" go install "github.com/minio/minio@$MINIO_VERSION"
  stamp minio "$MINIO_VERSION"
fi

say "setup complete: venv in .venv, tools in ${TOOLS#$ROOT/}"
