package rosapi

// The cross-check against roscpp itself: testdata/names_harness.cpp is compiled against Debian's
// libroscpp-dev and runs ros::this_node::init and ros::names::resolve on generated start-ups, including
// what rospy does differently (remap precedence, invalid names, the node's own name as a remap).

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildNamesHarness compiles the harness once per source, headers and compiler, into the user cache.
func buildNamesHarness(t *testing.T) string {
	t.Helper()
	src, err := filepath.Abs(filepath.Join("testdata", "names_harness.cpp"))
	if err != nil {
		t.Fatal(err)
	}
	flags, err := exec.Command("pkg-config", "--cflags", "--libs", "roscpp").Output()
	if err != nil {
		t.Fatalf("pkg-config finds no roscpp (Debian's libroscpp-dev; run make setup): %v", err)
	}
	version, err := exec.Command("g++", "--version").Output()
	if err != nil {
		t.Fatalf("g++ is missing (build-essential; run make setup): %v", err)
	}
	h := sha256.New()
	for _, f := range []string{src, "/usr/include/ros/names.h", "/usr/include/ros/this_node.h"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("reading %s: %v", f, err)
		}
		h.Write(b)
	}
	h.Write(flags)
	h.Write(version)
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	dir := filepath.Join(cache, "cen", "rosapi-names-harness")
	bin := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, "build-*")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := append([]string{"-std=c++17", "-O1", "-o", tmp.Name(), src}, strings.Fields(string(flags))...)
	if out, err := exec.Command("g++", args...).CombinedOutput(); err != nil {
		t.Fatalf("g++ %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if err := os.Rename(tmp.Name(), bin); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "[0-9a-f]*"))
	for _, f := range old {
		if f != bin {
			os.Remove(f) // built from older sources
		}
	}
	return bin
}

func hexField(s string) string { return "h" + hex.EncodeToString([]byte(s)) }

func unhexField(t *testing.T, f string) string {
	b, err := hex.DecodeString(strings.TrimPrefix(f, "h"))
	if err != nil {
		t.Fatalf("harness field %q: %v", f, err)
	}
	return string(b)
}

// askRoscpp runs the cases through the harness.
func askRoscpp(t *testing.T, cases []nameCase) []nameOutcome {
	t.Helper()
	var in bytes.Buffer
	for _, c := range cases {
		ns := ""
		if c.EnvNS != nil {
			ns = *c.EnvNS // roscpp reads an empty ROS_NAMESPACE as unset
		}
		fmt.Fprintf(&in, "C %s %s\n", hexField(c.Default), hexField(ns))
		for _, a := range c.Args {
			fmt.Fprintf(&in, "A %s\n", hexField(a))
		}
		for _, q := range c.Queries {
			fmt.Fprintf(&in, "Q %s\n", hexField(q))
		}
		in.WriteString("E\n")
	}
	cmd := exec.Command(buildNamesHarness(t))
	cmd.Stdin = &in
	cmd.Env = append(os.Environ(), "ROS_MASTER_URI=http://127.0.0.1:9", "ROS_HOME="+t.TempDir())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("names harness: %v\n%s", err, stderr.String())
	}
	var outcomes []nameOutcome
	var cur nameOutcome
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch f[0] {
		case "N":
			cur.name, cur.ns = unhexField(t, f[1]), unhexField(t, f[2])
		case "X":
			cur.err = true
		case "R":
			cur.resolved = append(cur.resolved, unhexField(t, f[1]))
			cur.queryErrs = append(cur.queryErrs, false)
		case "F":
			cur.resolved = append(cur.resolved, "")
			cur.queryErrs = append(cur.queryErrs, true)
		case "E":
			outcomes = append(outcomes, cur)
			cur = nameOutcome{}
		}
	}
	if len(outcomes) != len(cases) {
		t.Fatalf("the harness answered %d cases, want %d\n%s", len(outcomes), len(cases), stderr.String())
	}
	return outcomes
}

func TestNamesAgreeWithRoscpp(t *testing.T) {
	cases := genCases(rand.New(rand.NewPCG(3, 4)), 2000, true)
	theirs := askRoscpp(t, cases)
	resolutions, failedStarts, badNames := 0, 0, 0
	for i, c := range cases {
		ours, cpp := c.ours(), theirs[i]
		if ours.err || cpp.err {
			if ours.err != cpp.err {
				t.Errorf("case %d (%s): ours fails %v, roscpp fails %v", i, c, ours.err, cpp.err)
			}
			failedStarts++
			continue
		}
		if ours.name != cpp.name || ours.ns != cpp.ns {
			t.Errorf("case %d (%s): node %s in %s, roscpp %s in %s", i, c, ours.name, ours.ns, cpp.name, cpp.ns)
		}
		for j, q := range c.Queries {
			resolutions++
			if ours.queryErrs[j] || cpp.queryErrs[j] {
				badNames++
				if ours.queryErrs[j] != cpp.queryErrs[j] {
					t.Errorf("case %d (%s): %q fails: ours %v, roscpp %v", i, c, q, ours.queryErrs[j], cpp.queryErrs[j])
				}
				continue
			}
			if ours.resolved[j] != cpp.resolved[j] {
				t.Errorf("case %d (node %s, args %q): %q resolves to %q, roscpp %q", i, ours.name, c.Args, q, ours.resolved[j], cpp.resolved[j])
			}
		}
	}
	t.Logf("roscpp agrees on %d node start-ups (%d refused by both) and %d names (%d refused by both)",
		len(cases), failedStarts, resolutions, badNames)
}
