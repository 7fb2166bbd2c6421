# Bake Spegel's node configuration into a machine image with Packer's `ansible-local`
# provisioner: ansible-playbook runs inside the builder with the local connection
# (README "Image bakes"). The builder then needs ansible-core and tomlkit (Debian/Ubuntu:
# ansible-core and python3-tomlkit, installed by the first step) and the collection, which
# Packer uploads from `collections_dir` (`ansible-galaxy collection install peerpull.spegel
# -p DIR` makes DIR/ansible_collections).
#
# The `null` source provisions a machine that already runs and answers SSH (the collection's
# test boots one); for a cloud image, replace it with your builder's source and keep the
# build block as it is.
#
#   packer build -var builder_host=198.18.0.12 -var ssh_private_key_file=~/.ssh/id_ed25519 \
#     -var collections_dir=./collections/ansible_collections spegel-bake-local.pkr.hcl

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

variable "collections_dir" {
  type        = string
  description = "A local ansible_collections directory that holds peerpull.spegel."
}

variable "install_ansible" {
  type        = string
  default     = "sudo apt-get update && sudo apt-get install -y --no-install-recommends ansible-core python3-tomlkit"
  description = "The shell command that installs ansible-core and tomlkit in the builder."
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

  provisioner "shell" {
    inline = [var.install_ansible]
  }

  provisioner "ansible-local" {
    playbook_file           = "${path.root}/bake.yml"
    collection_paths        = [var.collections_dir]
    clean_staging_directory = true
    extra_arguments = concat(
      ["--extra-vars", "spegel_become=${var.become}"],
      flatten([for item in var.extra_vars : ["--extra-vars", item]]),
    )
  }
}
