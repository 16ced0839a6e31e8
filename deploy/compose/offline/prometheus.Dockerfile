# Prometheus from Debian's own package, for machines that cannot pull prom/prometheus (no
# registry, or podman on an offline host). Same entrypoint contract as the official image:
# the Compose file's `command` gives only the flags. Debian 12 ships Prometheus 2.42.
#   podman build -t maskgrpo-prometheus:debian -f deploy/compose/offline/prometheus.Dockerfile deploy/compose/offline
FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus curl \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /prometheus && chown prometheus:prometheus /prometheus
USER prometheus
WORKDIR /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
