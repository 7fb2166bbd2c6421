// Copyright (c) 2026, peerpull.spegel contributors
// GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
// SPDX-License-Identifier: GPL-3.0-or-later

// k3s-registries loads a registries.yaml the way k3s and rke2 do (their agent calls
// wharfie's registries.GetPrivateRegistries, pkg/agent/containerd) and prints what they
// get as JSON: {"mirrors": ..., "configs": ...}. A file they refuse exits 1 with the error.
// It also reads config files the way k3s's configfilearg does (yaml.v2 MapSlice) with
// -config, printing the flags a file gives, in order.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/rancher/wharfie/pkg/registries"
	"github.com/sirupsen/logrus"
	"gopkg.in/yaml.v2"
)

func main() {
	logrus.SetOutput(io.Discard)
	if len(os.Args) == 3 && os.Args[1] == "-config" {
		data, err := os.ReadFile(os.Args[2])
		if err == nil {
			slice := yaml.MapSlice{}
			if err = yaml.Unmarshal(data, &slice); err == nil {
				flags := []string{}
				for _, item := range slice {
					flags = append(flags, fmt.Sprintf("--%v=%v", item.Key, item.Value))
				}
				out, _ := json.Marshal(flags)
				fmt.Println(string(out))
				return
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: k3s-registries REGISTRIES_YAML | -config CONFIG_YAML")
		os.Exit(2)
	}
	loaded, err := registries.GetPrivateRegistries(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	out, err := json.Marshal(loaded.Registry)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}
