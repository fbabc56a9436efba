# The kubemcp image: the gateway (`kubemcp gateway run`) and the operator (`kubemcp operator`).
# Builds on the project's base image (Debian bookworm with python3, user app uid 1000), made locally
# by tests/cluster (no registry needed). The Python packages come from a wheelhouse made on the
# host, so the build needs no package index:
#   make wheels && buildah bud --build-arg BASE_IMAGE=localhost/kubemcp/base:bookworm -t kubemcp/kubemcp .
ARG BASE_IMAGE=localhost/kubemcp/base:bookworm

FROM ${BASE_IMAGE} AS build
USER root
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/kubemcp
COPY build/wheels /wheels
RUN /opt/kubemcp/bin/pip install --no-cache-dir --quiet --no-index --find-links /wheels kubemcp

FROM ${BASE_IMAGE}
COPY --from=build /opt/kubemcp /opt/kubemcp
ENV PATH=/opt/kubemcp/bin:/usr/local/bin:/usr/bin:/bin \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 1000:1000
WORKDIR /home/app
EXPOSE 8811
ENTRYPOINT ["kubemcp"]
CMD ["gateway", "run", "--help"]
