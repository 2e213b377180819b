package disk

import (
	"path/filepath"
	"strconv"
	"strings"
)

// validName reports why name is not a relative slash-separated file path
// that stays inside the root ("" when it is one).
func validName(name string) string {
	if name == "" {
		return "the name is empty"
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "it contains a NUL byte"
	}
	if name[0] == '/' {
		return "it is absolute; names are relative to the data directory"
	}
	for _, part := range strings.Split(name, "/") {
		switch part {
		case "":
			return "it has an empty path element (trailing or doubled slash)"
		case ".", "..":
			return "it has a \".\" or \"..\" element"
		}
	}
	// The checks above are the contract; this is the platform's own view
	// (drive letters, reserved names), so a name can never leave the root.
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		return "it is not a local path on this platform"
	}
	return ""
}

// validDir is validName for directories, where "" is the root.
func validDir(dir string) string {
	if dir == "" {
		return ""
	}
	return validName(dir)
}

func invalidNameDetail(name, why string) string {
	return strconv.Quote(name) + " is not a relative slash-separated path inside the data directory: " + why
}

// parent is the directory holding name ("" for the root).
func parent(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// hostPath is where a valid name lives on the host.
func (d *Disk) hostPath(name string) string {
	if name == "" {
		return d.root
	}
	return filepath.Join(d.root, filepath.FromSlash(name))
}

// shardOf spreads names over workers (FNV-1a), so that every operation
// on one file runs on one worker, in issue order.
func shardOf(name string, n int) int {
	h := uint32(2166136261)
	for i := 0; i < len(name); i++ {
		h ^= uint32(name[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
