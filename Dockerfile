# podnet as a managed Docker plugin: this image's filesystem becomes the plugin's rootfs
# (plugin/build.sh). TypeScript is compiled and production node_modules are prepared on the
# build host (native better-sqlite3 included), so the build needs no registry but Debian's.
ARG BASE=node:20-bookworm-slim

# The host tools podnet runs: iproute2, iptables (nft backend, as Docker uses), ethtool and the OVS
# clients (ovs-vsctl is in openvswitch-switch, ovs-ofctl in openvswitch-common). An offline base
# made by plugin/build.sh already has them; a public one gets them from Debian.
FROM ${BASE} AS tools
RUN set -e; \
    if command -v ip && command -v iptables-nft && command -v ethtool && command -v ovs-vsctl && command -v ovs-ofctl && command -v flock; then \
      echo "podnet: host tools present in the base image"; \
    else \
      apt-get update; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 iptables ethtool openvswitch-common openvswitch-switch util-linux; \
      rm -rf /var/lib/apt/lists/*; \
    fi; \
    update-alternatives --set iptables /usr/sbin/iptables-nft; \
    [ -x /usr/bin/node ] || ln -s "$(command -v node)" /usr/bin/node; \
    node --version

FROM tools
WORKDIR /opt/podnet
COPY package.json ./
COPY node_modules ./node_modules
COPY dist/src ./dist/src
COPY bin ./bin
# Mount points of config.json, and the plugin socket folder Docker expects in the rootfs.
RUN mkdir -p /run/docker/plugins /var/lib/podnet /etc/podnet /run/openvswitch /host/proc
LABEL org.opencontainers.image.title="podnet" org.opencontainers.image.description="Kubernetes network model for Docker hosts"
ENTRYPOINT ["/usr/bin/node", "/opt/podnet/bin/podnet.js", "serve"]
