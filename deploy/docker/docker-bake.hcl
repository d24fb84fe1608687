# Builds every Glitch image from deploy/docker/Dockerfile:
#   docker buildx bake -f deploy/docker/docker-bake.hcl            # all five
#   docker buildx bake -f deploy/docker/docker-bake.hcl sensor     # one
#   REGISTRY=ghcr.io/acme TAG=0.1.0 docker buildx bake -f deploy/docker/docker-bake.hcl --push

variable "REGISTRY" {
  default = "glitch"
}

variable "TAG" {
  default = "dev"
}

group "default" {
  targets = ["sensor", "control-plane", "audit-consumer", "console", "cli"]
}

target "_common" {
  context    = "."
  dockerfile = "deploy/docker/Dockerfile"
}

target "sensor" {
  inherits = ["_common"]
  args     = { BIN = "glitch-sensor" }
  tags     = ["${REGISTRY}/glitch-sensor:${TAG}"]
}

target "control-plane" {
  inherits = ["_common"]
  args     = { BIN = "glitch-control-plane" }
  tags     = ["${REGISTRY}/glitch-control-plane:${TAG}"]
}

target "audit-consumer" {
  inherits = ["_common"]
  args     = { BIN = "glitch-audit-consumer" }
  tags     = ["${REGISTRY}/glitch-audit-consumer:${TAG}"]
}

target "console" {
  inherits = ["_common"]
  args     = { BIN = "glitch-console" }
  tags     = ["${REGISTRY}/glitch-console:${TAG}"]
}

target "cli" {
  inherits = ["_common"]
  args     = { BIN = "glitch" }
  tags     = ["${REGISTRY}/glitch:${TAG}"]
}
