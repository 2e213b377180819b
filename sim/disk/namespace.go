package disk

import (
	"math/rand/v2"
	"strings"

	"github.com/annal-db/annal/core/env"
)

// entry sets one name: to an inode, or removes it when ino is nil.
type entry struct {
	name string
	ino  *inode
}

// metaOp is one unsynced Create, Delete or Rename, recorded by its effect
// so that replaying it needs no state: a rename is {from: nil, to: inode}.
type metaOp struct {
	n    int
	sets [2]entry
}

// dirs lists the directories the operation changes (one or two).
func (o *metaOp) dirs() (first, second string, two bool) {
	first = parent(o.sets[0].name)
	if o.n == 2 {
		second = parent(o.sets[1].name)
		two = second != first
	}
	return first, second, two
}

func (o *metaOp) touches(dir string) bool {
	a, b, two := o.dirs()
	return a == dir || (two && b == dir)
}

func (o *metaOp) applyTo(m map[string]*inode) {
	for _, e := range o.sets[:o.n] {
		if e.ino == nil {
			delete(m, e.name)
		} else {
			m[e.name] = e.ino
		}
	}
}

// namespace maps names to inodes, now and on the media. The current map is
// the durable map with the journal applied.
type namespace struct {
	current map[string]*inode
	durable map[string]*inode
	journal []metaOp
}

func newNamespace() namespace {
	return namespace{current: make(map[string]*inode), durable: make(map[string]*inode)}
}

// record applies op to the current namespace and journals it.
func (ns *namespace) record(op metaOp) {
	op.applyTo(ns.current)
	ns.journal = append(ns.journal, op)
}

// syncDir makes durable every journaled operation on dir and, transitively,
// the earlier operations on every directory those touch, so that what stays
// journaled still applies in order on top of the durable map. It returns how
// many operations became durable.
func (ns *namespace) syncDir(dir string) int {
	marked := []string{dir}
	isMarked := func(d string) bool {
		for _, m := range marked {
			if m == d {
				return true
			}
		}
		return false
	}
	keep := make([]bool, len(ns.journal))
	synced := 0
	// Walking backwards, an operation is needed if it touches a directory
	// some later needed operation touches.
	for i := len(ns.journal) - 1; i >= 0; i-- {
		op := &ns.journal[i]
		a, b, two := op.dirs()
		if !isMarked(a) && !(two && isMarked(b)) {
			continue
		}
		keep[i] = true
		synced++
		if !isMarked(a) {
			marked = append(marked, a)
		}
		if two && !isMarked(b) {
			marked = append(marked, b)
		}
	}
	if synced == 0 {
		return 0
	}
	rest := ns.journal[:0]
	for i := range ns.journal {
		if keep[i] {
			ns.journal[i].applyTo(ns.durable)
		} else {
			rest = append(rest, ns.journal[i])
		}
	}
	clear(ns.journal[len(rest):])
	ns.journal = rest
	return synced
}

// crash rebuilds the namespace as the media hold it after a power loss:
// each directory keeps a random prefix of its journal, and an operation on
// two directories is kept only if both keep it. It returns how many
// journaled operations were kept and lost.
func (ns *namespace) crash(rng *rand.Rand) (kept, lost int) {
	// Directories in order of first appearance: deterministic, no map walk.
	var dirs []string
	index := make(map[string]int)
	dirOf := func(d string) int {
		i, ok := index[d]
		if !ok {
			i = len(dirs)
			index[d] = i
			dirs = append(dirs, d)
		}
		return i
	}
	type dirState struct {
		ops, cut, seen int
		closed         bool
	}
	var state []dirState
	opDirs := make([][2]int, len(ns.journal)) // second is -1 for one directory
	for i := range ns.journal {
		a, b, two := ns.journal[i].dirs()
		ia, ib := dirOf(a), -1
		if two {
			ib = dirOf(b)
		}
		for len(state) < len(dirs) {
			state = append(state, dirState{})
		}
		state[ia].ops++
		if ib >= 0 {
			state[ib].ops++
		}
		opDirs[i] = [2]int{ia, ib}
	}
	for i := range state {
		state[i].cut = env.Intn(rng, state[i].ops+1)
	}
	for i := range ns.journal {
		ok := true
		for _, d := range opDirs[i] {
			if d < 0 {
				continue
			}
			st := &state[d]
			if st.closed || st.seen >= st.cut {
				ok = false
			}
			st.seen++
		}
		if ok {
			ns.journal[i].applyTo(ns.durable)
			kept++
			continue
		}
		lost++
		// Once a directory drops an operation it drops every later one: a
		// prefix, and a rename stays atomic across its two directories.
		for _, d := range opDirs[i] {
			if d >= 0 {
				state[d].closed = true
			}
		}
	}
	ns.journal = nil
	ns.current = make(map[string]*inode, len(ns.durable))
	for name, ino := range ns.durable {
		ns.current[name] = ino
	}
	return kept, lost
}

// list gives the base names of the current files directly inside dir, as a
// directory listing does.
func (ns *namespace) list(dir string) []string {
	var names []string
	for name := range ns.current {
		if parent(name) != dir {
			continue
		}
		if dir != "" {
			name = name[len(dir)+1:]
		}
		names = append(names, name)
	}
	return names
}

// parent is the directory holding name ("" for the root).
func parent(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// validName reports why name is not a relative slash-separated file path.
func validName(name string) string {
	if name == "" {
		return "the name is empty"
	}
	// Element by element without splitting: every disk operation checks
	// its name, so this must not allocate.
	for rest, more := name, true; more; {
		var part string
		part, rest, more = strings.Cut(rest, "/")
		switch part {
		case "":
			return "it has an empty path element (leading, trailing or doubled slash)"
		case ".", "..":
			return "it has a \".\" or \"..\" element"
		}
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
