# -*- coding: utf-8 -*-

# Copyright (c) 2026, peerpull.spegel contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    """How the modules that write through peerpull.spegel.node_files treat the node's files."""

    DOCUMENTATION = r"""
options: {}
notes:
  - A path that is a symbolic link is followed, as M(ansible.builtin.lineinfile) does; the file
    behind the link is edited in place of the link, which stays a link (a C(config.toml) or
    C(hosts.toml) linked into a config-management directory keeps working). A link to a file that
    does not exist, or a loop of links, is refused naming the link. A file that would be removed
    but is a link is emptied instead, so the link stays valid; removing the last file of a
    directory that is a link keeps the link and the directory behind it.
  - A link another user could have planted is refused naming the link and the fix, and nothing
    is read or written through it (the idea of the kernel's C(fs.protected_symlinks)). That is a
    link, the file's or one of its directories', in a directory writable by group (other than
    group C(root)) or others, or a link owned by neither the user the task runs as nor the owner
    of what it points to, such as C(hosts.toml -> /etc/shadow) planted in a rootless containerd's
    C(~/.config/containerd/certs.d).
  - Links are resolved once, when the files are read for the change; a link pointed elsewhere or
    a file replaced before the write fails the task, with nothing changed.
  - A FIFO, socket, device or directory where a file is expected is refused at once, naming it;
    nothing reads from it.
  - All files of one task are written or none. Each new content goes to a temporary file next to
    its target (mode and owner set before the first byte) and is validated, then all replace their
    targets through C(AnsibleModule.atomic_move), which keeps each file's SELinux context. The new
    file does not take over the old one's C(chattr) attributes (such as V(A)), as with
    M(ansible.builtin.copy); M(peerpull.spegel.toml_file) sets them with its
    O(peerpull.spegel.toml_file#module:attributes). A read-only file system, a full disk, an immutable
    file (C(chattr +i)) or a file where a directory should be fails the task naming the file, the
    operating system's error and the fix, with every file as it was and no temporary file left behind.
  - Should a target still fail after all were staged, the files already replaced are put back
    (their old inodes, kept as hard links). If even that fails, the task fails with C(changed=true)
    and the message names the files that stay changed.
  - With the environment variable E(ANSIBLE_UNSAFE_WRITES=1) set for the task, a target that cannot
    be replaced by a rename (a bind-mounted file) is written in place, as Ansible's
    O(ansible.builtin.copy#module:unsafe_writes) does; such a write cannot be undone by a later failure.
    Without it, such a file fails the task with C(Device or resource busy), naming that setting, and
    nothing changed.
"""
