"""``diaspora-fabric install``: resolve the Kafka broker's jars from Maven Central with Maven,
and build the fabric's broker plugin from its Java sources.

The jars land in ``<cache>/<kafka version>/lib``; a ``manifest.json`` written last marks the
directory complete, so an interrupted download is redone rather than half-used.

The plugin (``plugin/org/diaspora/kafka/*.java`` in this package: the IAM OAUTHBEARER callback
and the topic policies) is compiled with ``javac --release 17`` against that ``lib`` into
``<cache>/<kafka version>/plugin/diaspora-kafka-plugin-<hash>.jar``, where ``<hash>`` is the
SHA-256 of the sources: a changed source (or Kafka version) builds a new jar, an unchanged one
is reused. No prebuilt binary ships with the package.
"""

from __future__ import annotations

import hashlib
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
from typing import Any

from diaspora_notebook.fabric.errors import (
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
            hint="install a Java 17+ JDK, e.g. `apt-get install openjdk-17-jdk-headless`, "
            "or set JAVA_HOME",
        )
    return java


def find_javac() -> str:
    """The javac executable (``$JAVA_HOME/bin/javac`` first), or a clear error."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "javac").exists():
        return str(Path(java_home) / "bin" / "javac")
    javac = shutil.which("javac")
    if javac is None:
        raise PrerequisiteMissingError(
            "javac was not found on PATH (a Java runtime alone is not enough: the fabric builds "
            "its broker plugin from source)",
            hint="install a Java 17+ JDK, e.g. `apt-get install openjdk-17-jdk-headless`, or set "
            "JAVA_HOME to one, then run `diaspora-fabric install`",
        )
    return javac


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
    """A complete set of Kafka runtime jars in the cache (and the plugin jar built for them)."""

    version: str
    lib_dir: Path
    plugin_jar: Path | None = None

    @property
    def classpath(self) -> str:
        # a JVM classpath wildcard: passed without a shell, the JVM expands it itself
        jars = str(self.lib_dir / "*")
        return f"{self.plugin_jar}{os.pathsep}{jars}" if self.plugin_jar else jars

    def jars(self) -> list[Path]:
        return sorted(self.lib_dir.glob("*.jar"))

    def size_bytes(self) -> int:
        return sum(jar.stat().st_size for jar in self.jars())


def _version_dir(cache: Path, version: str) -> Path:
    return cache / version


def find_install(version: str = DEFAULT_KAFKA_VERSION, cache: Path | None = None) -> KafkaInstall:
    """The cached install of ``version``, or ``FabricNotInstalledError`` saying how to get it.

    ``plugin_jar`` is the jar built from today's plugin sources, or None when it is not built
    yet (``install`` builds it).
    """
    vdir = _version_dir(cache or default_cache_dir(), version)
    if not (vdir / "manifest.json").exists():
        raise FabricNotInstalledError(
            f"Apache Kafka {version} jars are not in the cache ({vdir})",
            hint="run `diaspora-fabric install` (needs a JDK, mvn and access to Maven Central)",
        )
    jar = plugin_jar_path(vdir, plugin_sources_hash())
    return KafkaInstall(version, vdir / "lib", jar if jar.exists() else None)


# --- the broker plugin ----------------------------------------------------------------------

PLUGIN_PACKAGE = "diaspora_notebook.fabric.broker"
PLUGIN_JAR_PREFIX = "diaspora-kafka-plugin-"


def _plugin_sources() -> list[tuple[str, bytes]]:
    """``(relative path, bytes)`` of every plugin source, sorted by path."""
    root = resources.files(PLUGIN_PACKAGE) / "plugin"
    found: list[tuple[str, bytes]] = []

    def walk(node: Any, prefix: str) -> None:
        for child in node.iterdir():
            name = f"{prefix}{child.name}"
            if child.is_dir():
                walk(child, name + "/")
            elif child.name.endswith(".java"):
                found.append((name, child.read_bytes()))

    walk(root, "")
    if not found:
        raise FabricError("the broker plugin's Java sources are missing from the package",
                          hint="reinstall diaspora-notebook (its wheel ships plugin/**/*.java)")
    return sorted(found)


def plugin_sources_hash() -> str:
    """SHA-256 over the plugin sources' paths and contents (the jar's build key)."""
    digest = hashlib.sha256()
    for name, data in _plugin_sources():
        digest.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return digest.hexdigest()


def plugin_jar_path(version_dir: Path, source_hash: str) -> Path:
    return version_dir / "plugin" / f"{PLUGIN_JAR_PREFIX}{source_hash[:16]}.jar"


def build_plugin(kafka: KafkaInstall, *, progress: Callable[[str], None] | None = None,
                 ) -> KafkaInstall:
    """Compile the plugin against ``kafka``'s jars unless a jar of today's sources exists.

    Built in a temporary directory and renamed into place, so a concurrent ``up`` sees either
    no jar or a complete one; jars of older sources are removed (a running broker keeps its
    open copy).
    """
    say = progress or (lambda _msg: None)
    source_hash = plugin_sources_hash()
    jar = plugin_jar_path(kafka.lib_dir.parent, source_hash)
    if jar.exists():
        return KafkaInstall(kafka.version, kafka.lib_dir, jar)
    javac = find_javac()
    jar.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=jar.parent, prefix=".build-") as tmp:
        work = Path(tmp)
        sources = []
        for name, data in _plugin_sources():
            path = work / "src" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            sources.append(str(path))
        classes = work / "classes"
        classes.mkdir()
        argv = [javac, "--release", "17", "-encoding", "UTF-8", "-Xlint:all,-processing",
                "-cp", kafka.classpath, "-d", str(classes), *sources]
        result = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=300, check=False)
        if result.returncode != 0:
            raise FabricError(
                f"compiling the broker plugin against Kafka {kafka.version} failed:\n"
                f"{(result.stdout + result.stderr)[-3000:]}",
                hint="the plugin's sources do not fit this Kafka version; use the default "
                f"--kafka-version {DEFAULT_KAFKA_VERSION} or report this as a bug")
        staging = work / jar.name
        _write_jar(classes, staging, source_hash)
        os.replace(staging, jar)
    for old in jar.parent.glob(f"{PLUGIN_JAR_PREFIX}*.jar"):
        if old != jar:
            old.unlink(missing_ok=True)
    say(f"built the broker plugin {jar.name} in {time.monotonic() - started:.1f} s")
    return KafkaInstall(kafka.version, kafka.lib_dir, jar)


def _write_jar(classes: Path, target: Path, source_hash: str) -> None:
    """A jar is a zip with a manifest first: written with zipfile, no ``jar`` tool needed."""
    import zipfile

    manifest = ("Manifest-Version: 1.0\r\nCreated-By: diaspora-fabric install\r\n"
                f"Implementation-Title: diaspora-kafka-plugin\r\n"
                f"Implementation-Version: {source_hash[:16]}\r\n\r\n")
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("META-INF/MANIFEST.MF", manifest)
        for path in sorted(classes.rglob("*.class")):
            zf.write(path, path.relative_to(classes).as_posix())


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
        if found.plugin_jar is None:
            return build_plugin(found, progress=say)
        say(f"Kafka {version}: {len(found.jars())} jars already cached in {found.lib_dir}")
        return found
    find_java()
    find_javac()  # before a download: the plugin is built right after it
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
    return build_plugin(result, progress=say)


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
