"""The *restricted* Pod Security Standard, as a checker of rendered manifests.

The rules of https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline + restricted,
policy version "latest") that a pod spec can break, each violation one line naming the field:

>>> pod = {"containers": [{"name": "c", "image": "i", "securityContext": {"privileged": True}}]}
>>> any("privileged" in v for v in pod_violations(pod))
True
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SECCOMP_TYPES = {"RuntimeDefault", "Localhost"}
SELINUX_TYPES = {None, "", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def pod_specs(docs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """``(kind/name, pod spec)`` of every workload among ``docs`` (Pod, Deployment, Job, … templates)."""
    out = []
    for doc in docs:
        spec = doc.get("spec") or {}
        if doc.get("kind") == "Pod":
            pod = spec
        elif doc.get("kind") == "CronJob":
            pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec")
        else:
            pod = spec.get("template", {}).get("spec")
        if pod is not None:
            out.append((f"{doc['kind']}/{doc['metadata']['name']}", pod))
    return out


def restricted_violations(docs: list[dict[str, Any]]) -> list[str]:
    """Every restricted-profile violation of every workload in ``docs`` (empty: admitted)."""
    return [f"{where}: {v}" for where, pod in pod_specs(docs) for v in pod_violations(pod)]


def pod_violations(pod: dict[str, Any]) -> list[str]:
    """The restricted-profile rules one pod spec breaks."""
    out: list[str] = []
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(key):
            out.append(f"{key} must not be true")
    psc = pod.get("securityContext") or {}
    out += _common_context(psc, "spec.securityContext")
    for sysctl in psc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            out.append(f"sysctl {sysctl.get('name')} is not a safe sysctl")
    for volume in pod.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            out.append(f"volume {volume.get('name')}: type {sorted(kinds - ALLOWED_VOLUMES)} is not allowed")
    containers = [
        (kind, c)
        for kind in ("initContainers", "containers", "ephemeralContainers")
        for c in pod.get(kind) or []
    ]
    for kind, c in containers:
        where = f"{kind}[{c.get('name')}].securityContext"
        sc = c.get("securityContext") or {}
        out += _common_context(sc, where)
        if sc.get("privileged"):
            out.append(f"{where}.privileged must not be true")
        if sc.get("procMount") not in (None, "Default"):
            out.append(f"{where}.procMount must be Default")
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{where}.allowPrivilegeEscalation must be false")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            out.append(f"{where}.capabilities.drop must include ALL")
        added = set(caps.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            out.append(f"{where}.capabilities.add may hold only NET_BIND_SERVICE, not {sorted(added)}")
        # runAsNonRoot and seccomp may be set on the pod instead of on each container
        if sc.get("runAsNonRoot", psc.get("runAsNonRoot")) is not True:
            out.append(f"{where}.runAsNonRoot must be true (here or in spec.securityContext)")
        seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
        if seccomp not in SECCOMP_TYPES:
            out.append(f"{where}.seccompProfile.type must be RuntimeDefault or Localhost, not {seccomp}")
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                out.append(f"{kind}[{c.get('name')}] hostPort {port['hostPort']} is not allowed")
    return out


def _common_context(sc: dict[str, Any], where: str) -> list[str]:
    """Rules that hold for the pod's and each container's securityContext alike."""
    out = []
    if sc.get("runAsNonRoot") is False:
        out.append(f"{where}.runAsNonRoot must not be false")
    if sc.get("runAsUser") == 0:
        out.append(f"{where}.runAsUser must not be 0")
    if (sc.get("windowsOptions") or {}).get("hostProcess"):
        out.append(f"{where}.windowsOptions.hostProcess must not be true")
    selinux = sc.get("seLinuxOptions") or {}
    if selinux.get("type") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
        out.append(f"{where}.seLinuxOptions sets a forbidden type, user or role")
    seccomp = (sc.get("seccompProfile") or {}).get("type")
    if seccomp is not None and seccomp not in SECCOMP_TYPES:
        out.append(f"{where}.seccompProfile.type {seccomp} is not allowed")
    apparmor = (sc.get("appArmorProfile") or {}).get("type")
    if apparmor not in (None, "RuntimeDefault", "Localhost"):
        out.append(f"{where}.appArmorProfile.type {apparmor} is not allowed")
    return out
