# The mgmtd container image: the demo, and the multi-cluster hub (for now
# the same binary). Build it with scripts/image.sh, which builds the static
# binary (CGO_ENABLED=0: no PAM in this image; tokens, OIDC and client
# certificates work) and the small root filesystem in build/image/, then
# runs `podman build` (or docker) on this file. Nothing is pulled: the image
# is FROM scratch, with no shell and a non-root user.
#
#   bash scripts/image.sh                 # -> image localhost/mgmtd:latest
#   podman run -p 8080:8080 localhost/mgmtd
FROM scratch
COPY build/image/rootfs/ /
COPY --chown=65532:65532 build/image/state/ /var/lib/mgmtd/
USER 65532:65532
WORKDIR /var/lib/mgmtd
EXPOSE 8080 8443 5989
ENTRYPOINT ["/usr/bin/mgmtd"]
CMD ["demo", "--addr", "0.0.0.0:8080", "--state-dir", "/var/lib/mgmtd"]
