# tender, built on Debian 12 exactly as on a fresh machine (scripts/setup, then CMake), and run
# from a slim Debian 12 image with only the runtime libraries, as a non-root user.
FROM debian:12 AS build
WORKDIR /src
COPY scripts/setup scripts/setup
RUN ./scripts/setup --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && ninja -C build tender \
 && strip build/collector/app/tender

FROM debian:12-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      ca-certificates libabsl20220623 libcpp-httplib0.11 libcurl4 libprometheus-cpp-core1.0 \
      libre2-9 libsnappy1v5 libssl3 libyaml-cpp0.7 zlib1g curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/tender --create-home tender
COPY --from=build /src/build/collector/app/tender /usr/local/bin/tender
COPY config/tender.yml /etc/tender/tender.yml
USER tender
VOLUME /var/lib/tender
EXPOSE 9099
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://localhost:9099/-/healthy || exit 1
ENTRYPOINT ["/usr/local/bin/tender"]
CMD ["--config.file=/etc/tender/tender.yml", "--web.listen-address=0.0.0.0:9099", \
     "--storage.path=/var/lib/tender"]
