# Bake Spegel's node configuration into a machine image with Packer's `ansible` provisioner:
# ansible-playbook runs on the machine running Packer and reaches the builder over SSH
# (README "Image bakes"). The controller needs ansible-core, the peerpull.spegel collection
# and tomlkit; the image needs nothing but Python.
#
# The `null` source provisions a machine that already runs and answers SSH (the collection's
# test boots one); for a cloud image, replace it with your builder's source (amazon-ebs,
# googlecompute, azure-arm, qemu...) and keep the build block as it is.
#
#   packer build -var builder_host=198.18.0.11 -var ssh_private_key_file=~/.ssh/id_ed25519 \
#     -var 'extra_vars=["mirror_ports=30020,30021"]' spegel-bake.pkr.hcl

# Packer 1.9 bundles the ansible provisioners (the test runs 1.9.4, the last MPL-2.0 release);
# from 1.10 on they are a plugin: add this to the block below and run `packer init` first.
#   required_plugins {
#     ansible = {
#       source  = "github.com/hashicorp/ansible"
#       version = "~> 1"
#     }
#   }
packer {
  required_version = ">= 1.9.4"
}

variable "builder_host" {
  type        = string
  description = "Address of the machine to bake (the null source's SSH host)."
}

variable "ssh_username" {
  type    = string
  default = "root"
}

variable "ssh_private_key_file" {
  type = string
}

variable "become" {
  type        = bool
  default     = true
  description = "Whether the bake runs with sudo (false when ssh_username is root and the image has no sudo)."
}

variable "extra_vars" {
  type        = list(string)
  default     = []
  description = "Role variables of peerpull.spegel.bake as key=value, e.g. mirror_ports=30020,30021."
}

source "null" "builder" {
  communicator         = "ssh"
  ssh_host             = var.builder_host
  ssh_username         = var.ssh_username
  ssh_private_key_file = var.ssh_private_key_file
}

build {
  sources = ["source.null.builder"]

  provisioner "ansible" {
    playbook_file = "${path.root}/bake.yml"
    user          = var.ssh_username
    use_proxy     = false
    extra_arguments = concat(
      ["--extra-vars", "spegel_become=${var.become}"],
      flatten([for item in var.extra_vars : ["--extra-vars", item]]),
    )
  }
}
