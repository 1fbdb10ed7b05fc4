#!/usr/bin/env bash
# Starts a real Neo4j 5.26 LTS (Community) in-process in a small Java launcher, Bolt on 127.0.0.1:PORT, auth off.
# Everything comes from Maven Central (cached in ~/.m2) and runs on the machine's Java 17; no Docker, no tarball.
# For tests and development only.
#
#   deploy/neo4j.sh build              build the launcher (first time: downloads ~160 MB of jars from Maven Central)
#   deploy/neo4j.sh run PORT [HOME] [--stop-on-eof]
#                                      build if needed, then start; prints "VIGIL_NEO4J_READY bolt://127.0.0.1:PORT"
#                                      when ready; stops on SIGTERM/SIGINT (and when stdin closes with --stop-on-eof,
#                                      as test harnesses use it). PORT 0 = pick a free port. Without HOME the data
#                                      lives in a temporary directory deleted on exit.
#
# Needs: a Java 17+ JDK and mvn on PATH (Debian: openjdk-17-jdk-headless, maven; deploy/install-test-deps.sh installs them).
set -euo pipefail
here="$(cd "$(dirname "$0")/neo4j" && pwd)"

need_build() {
  [[ -f "$here/target/.built" && -f "$here/target/classpath.txt" ]] || return 0
  [[ -n "$(find "$here/pom.xml" "$here/src" -newer "$here/target/.built" -type f -print -quit)" ]] && return 0
  # A cleaned ~/.m2 leaves a stale classpath: rebuild if any jar on it is gone.
  local jar
  IFS=':' read -r -a jars < "$here/target/classpath.txt"
  for jar in "${jars[@]}"; do [[ -f "$jar" ]] || return 0; done
  return 1
}

build() {
  command -v mvn >/dev/null || { echo "neo4j.sh: mvn not found; install Maven (apt-get install -y maven)" >&2; exit 2; }
  command -v java >/dev/null || { echo "neo4j.sh: java not found; install a Java 17 JDK (apt-get install -y openjdk-17-jdk-headless)" >&2; exit 2; }
  (cd "$here" && mvn -q -B -Dstyle.color=never package -DskipTests >&2)
  touch "$here/target/.built"
}

case "${1:-}" in
  build)
    build
    ;;
  run)
    [[ $# -ge 2 && $# -le 4 ]] || { echo "usage: $0 run PORT [HOME] [--stop-on-eof]" >&2; exit 2; }
    if need_build; then build; fi
    # Small heap: this is a test database of a few thousand nodes.
    exec java -Xms128m -Xmx512m -XX:+UseSerialGC \
      -cp "$here/target/classes:$(cat "$here/target/classpath.txt")" dev.vigil.neo4j.Launcher "${@:2}"
    ;;
  *)
    echo "usage: $0 build | run PORT [HOME] [--stop-on-eof]" >&2
    exit 2
    ;;
esac
