"""``diaspora-fabric install``: resolve the Kafka broker's jars from Maven Central with Maven.

The jars land in ``<cache>/<kafka version>/lib``; a ``manifest.json`` written last marks the
directory complete, so an interrupted download is redone rather than half-used.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from diaspora_notebook.errors import (
    FabricError,
    FabricNotInstalledError,
    PrerequisiteMissingError,
)

DEFAULT_KAFKA_VERSION = "4.3.1"
FALLBACK_KAFKA_VERSION = "4.4.0"
# The log4j2 version each Kafka release was built with (Kafka's gradle/dependencies.gradle).
LOG4J_FOR_KAFKA = {"4.3.1": "2.25.4", "4.4.0": "2.25.4"}
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

_DOWNLOADED = re.compile(r"Downloaded from \S+: (\S+) \(([\d.]+) (kB|MB|B)")
_UNREACHABLE = re.compile(
    r"(Could not transfer|Unknown host|Connection refused|Network is unreachable|"
    r"connect timed out|Could not resolve dependencies)",
    re.IGNORECASE,
)


def default_cache_dir() -> Path:
    """``DIASPORA_KAFKA_CACHE`` if set, else ``~/.diaspora/kafka``."""
    env = os.environ.get("DIASPORA_KAFKA_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".diaspora" / "kafka"


def find_java() -> str:
    """The java executable (``$JAVA_HOME/bin/java`` first), or a clear error."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise PrerequisiteMissingError(
            "java was not found on PATH (and JAVA_HOME is not set)",
            hint="install a Java 17+ runtime, e.g. `apt-get install openjdk-17-jre-headless`, "
            "or set JAVA_HOME",
        )
    return java


def find_mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise PrerequisiteMissingError(
            "mvn (Apache Maven) was not found on PATH; it is needed once to fetch the Kafka jars",
            hint="install Maven, e.g. `apt-get install maven`, then run `diaspora-fabric install`",
        )
    return mvn


@dataclass(frozen=True)
class KafkaInstall:
    """A complete set of Kafka runtime jars in the cache."""

    version: str
    lib_dir: Path

    @property
    def classpath(self) -> str:
        # a JVM classpath wildcard: passed without a shell, the JVM expands it itself
        return str(self.lib_dir / "*")

    def jars(self) -> list[Path]:
        return sorted(self.lib_dir.glob("*.jar"))

    def size_bytes(self) -> int:
        return sum(jar.stat().st_size for jar in self.jars())


def _version_dir(cache: Path, version: str) -> Path:
    return cache / version


def find_install(version: str = DEFAULT_KAFKA_VERSION, cache: Path | None = None) -> KafkaInstall:
    """The cached install of ``version``, or ``FabricNotInstalledError`` saying how to get it."""
    vdir = _version_dir(cache or default_cache_dir(), version)
    if not (vdir / "manifest.json").exists():
        raise FabricNotInstalledError(
            f"Apache Kafka {version} jars are not in the cache ({vdir})",
            hint="run `diaspora-fabric install` (needs java, mvn and access to Maven Central)",
        )
    return KafkaInstall(version, vdir / "lib")


def install(
    version: str = DEFAULT_KAFKA_VERSION,
    cache: Path | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> KafkaInstall:
    """Resolve the jars with Maven into the cache; quick no-op when already complete."""
    cache = cache or default_cache_dir()
    say = progress or (lambda _msg: None)
    try:
        found = find_install(version, cache)
    except FabricNotInstalledError:
        pass
    else:
        say(f"Kafka {version}: {len(found.jars())} jars already cached in {found.lib_dir}")
        return found
    find_java()
    mvn = find_mvn()
    vdir = _version_dir(cache, version)
    vdir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=vdir.parent, prefix=f".{version}-"))
    pom = resources.files("diaspora_notebook.fabric.broker") / "pom.xml"
    with resources.as_file(pom) as pom_path:
        argv = [
            mvn, "-B", "-f", str(pom_path),
            f"-Dkafka.version={version}",
            f"-Dlog4j.version={LOG4J_FOR_KAFKA.get(version, '2.25.4')}",
            f"{DEPENDENCY_PLUGIN}:copy-dependencies",
            f"-DoutputDirectory={staging / 'lib'}",
            "-DincludeScope=runtime",
        ]
        say(f"Resolving Apache Kafka {version} from Maven Central (first time: ~50 MB)...")
        started = time.monotonic()
        output = _run_maven(argv, say)
    if output.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        text = "\n".join(output.lines[-25:])
        if _UNREACHABLE.search("\n".join(output.lines)):
            raise FabricError(
                f"Maven could not download Kafka {version} from the registry:\n{text}",
                hint="check network access to Maven Central (or your Maven mirror in "
                "~/.m2/settings.xml), then run `diaspora-fabric install` again; "
                f"`--kafka-version {FALLBACK_KAFKA_VERSION}` tries the fallback release",
            )
        raise FabricError(f"mvn failed (exit {output.returncode}):\n{text}",
                          hint="rerun with the output above in mind; the cache is unchanged")
    lib = staging / "lib"
    jars = sorted(p.name for p in lib.glob("*.jar"))
    if not any(name.startswith(f"kafka_2.13-{version}") for name in jars):
        shutil.rmtree(staging, ignore_errors=True)
        raise FabricError(f"Maven finished but kafka_2.13-{version}.jar is missing",
                          hint="report this as a bug in diaspora-notebook's pom.xml")
    (staging / "manifest.json").write_text(json.dumps({"version": version, "jars": jars}, indent=1))
    if vdir.exists():
        shutil.rmtree(vdir)
    staging.rename(vdir)
    result = KafkaInstall(version, vdir / "lib")
    say(f"Kafka {version}: {len(jars)} jars, {result.size_bytes() / 1e6:.1f} MB in "
        f"{time.monotonic() - started:.1f} s -> {result.lib_dir}")
    return result


@dataclass
class _MavenOutput:
    returncode: int
    lines: list[str]


def _run_maven(argv: list[str], say: Callable[[str], None]) -> _MavenOutput:
    """Run Maven, turning its per-artifact lines into a compact progress count."""
    lines: list[str] = []
    count = 0
    megabytes = 0.0
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    last_report = 0.0
    for line in proc.stdout:
        line = line.rstrip()
        lines.append(line)
        match = _DOWNLOADED.search(line)
        if match:
            count += 1
            size = float(match.group(2))
            megabytes += {"B": 1e-6, "kB": 1e-3, "MB": 1.0}[match.group(3)] * size
            now = time.monotonic()
            if now - last_report > 1.0:
                say(f"  downloaded {count} files, {megabytes:.1f} MB")
                last_report = now
    proc.wait()
    if count:
        say(f"  downloaded {count} files, {megabytes:.1f} MB")
    return _MavenOutput(proc.returncode, lines)


def print_progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
