#!/usr/bin/env bash
# Make sure RabbitMQ (127.0.0.1:5672) and PostgreSQL (127.0.0.1:5432) answer.
# Starts local ones that are installed but stopped; with --install (CI), installs missing ones
# with apt-get first. Exits non-zero if a service still does not answer.
set -u

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install_missing() {
  local pkgs=()
  command -v rabbitmq-server >/dev/null 2>&1 || pkgs+=(rabbitmq-server)
  ls /etc/postgresql >/dev/null 2>&1 || pkgs+=(postgresql)
  command -v openssl >/dev/null 2>&1 || pkgs+=(openssl)  # the TLS tests' throwaway CA
  if [ ${#pkgs[@]} -gt 0 ]; then
    echo "services: installing ${pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  fi
}

start_postgres() {
  answers 5432 && return 0
  local version
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  [ -n "$version" ] || { echo "services: PostgreSQL is not installed"; return 1; }
  echo "services: starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
}

configure_postgres_trust() {
  # Fresh apt installs use peer/scram auth; the tests connect as postgres over TCP without a password.
  local hba
  hba=$(ls /etc/postgresql/*/main/pg_hba.conf 2>/dev/null | head -n 1)
  [ -n "$hba" ] || return 0
  grep -qE '^host\s+all\s+all\s+127\.0\.0\.1/32\s+trust' "$hba" && return 0
  echo "services: allowing trust auth on 127.0.0.1 (local test machine only)"
  sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all postgres trust' "$hba"
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
}

start_rabbitmq() {
  answers 5672 && return 0
  command -v rabbitmq-server >/dev/null 2>&1 || { echo "services: RabbitMQ is not installed"; return 1; }
  echo "services: starting RabbitMQ"
  rabbitmq-server -detached || true
}

wait_for() {
  local name=$1 port=$2
  for _ in $(seq 1 120); do
    answers "$port" && { echo "services: $name answers on $port"; return 0; }
    sleep 1
  done
  echo "services: $name does not answer on $port"
  return 1
}

[ "${1:-}" = "--install" ] && install_missing
start_postgres
start_rabbitmq
rc=0
wait_for PostgreSQL 5432 || rc=1
wait_for RabbitMQ 5672 || rc=1
[ "${1:-}" = "--install" ] && [ $rc -eq 0 ] && configure_postgres_trust
exit $rc
