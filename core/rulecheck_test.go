package core

// The determinism checker: it parses and type-checks every non-test Go file
// under a core tree and reports every construct that could make a node's
// behaviour depend on anything but its inputs. It lives in a test file
// because it needs the file system and go/types, which core itself may not
// import.

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// rule names one kind of breach.
type rule string

const (
	ruleImport   rule = "import"
	ruleGo       rule = "go-statement"
	ruleSelect   rule = "select"
	ruleChannel  rule = "channel"
	ruleClock    rule = "wall-clock"
	ruleOutput   rule = "output"
	ruleMapRange rule = "map-range"
)

// allRules lists every rule, so the fixture test can prove each one fires.
var allRules = []rule{ruleImport, ruleGo, ruleSelect, ruleChannel, ruleClock, ruleOutput, ruleMapRange}

// why says, in one line, what a breach of each rule costs.
var why = map[rule]string{
	ruleImport: "core may import only its own packages and pure standard-library packages; " +
		"anything else can reach the clock, network, disk, scheduler or global randomness, so a seed no longer replays the run",
	ruleGo: "a goroutine runs beside the node's loop, so the order of events depends on the Go scheduler; " +
		"ask the environment to do the work and call back on the loop",
	ruleSelect: "select picks among ready cases at random, so the same inputs can take different paths",
	ruleChannel: "channels pass work between goroutines and core runs on one loop; " +
		"inputs arrive as method calls and outputs leave through env",
	ruleClock: "the host clock differs on every run and cannot be controlled by the simulator; " +
		"use env.Clock (Now, Wall, AfterFunc)",
	ruleOutput: "output that bypasses env is invisible to the simulator's trace and interleaves unpredictably; " +
		"log through env.Logger, report through env.Observer (fmt.Sprintf, Errorf and Appendf are fine)",
	ruleMapRange: "Go randomises map iteration order on every run; " +
		"iterate with sorted.Keys or sorted.Range from core/sorted",
}

// pureStdlib is the standard library core may import: packages whose
// functions depend only on their arguments (time and fmt have impure parts,
// which the checker forbids call by call).
var pureStdlib = map[string]bool{
	"bytes": true, "cmp": true, "container/heap": true, "container/list": true,
	"encoding/binary": true, "encoding/hex": true, "errors": true, "fmt": true,
	"hash": true, "hash/crc32": true, "iter": true, "math": true, "math/bits": true,
	"net/netip": true, "regexp": true, "slices": true, "sort": true, "strconv": true,
	"strings": true, "time": true, "unicode": true, "unicode/utf16": true, "unicode/utf8": true,
}

// forbiddenFuncs names the package-level functions and variables of
// allowed packages that reach outside the process's inputs.
var forbiddenFuncs = map[string]map[string]rule{
	"time": {
		"Now": ruleClock, "Since": ruleClock, "Until": ruleClock, "Sleep": ruleClock,
		"After": ruleClock, "Tick": ruleClock, "NewTimer": ruleClock, "NewTicker": ruleClock,
		"AfterFunc": ruleClock,
		// The host's time zone: a time rendered in it differs between machines.
		"Local": ruleClock, "LoadLocation": ruleClock,
	},
	"fmt": {
		"Print": ruleOutput, "Printf": ruleOutput, "Println": ruleOutput,
		"Fprint": ruleOutput, "Fprintf": ruleOutput, "Fprintln": ruleOutput,
		"Scan": ruleOutput, "Scanf": ruleOutput, "Scanln": ruleOutput,
		"Fscan": ruleOutput, "Fscanf": ruleOutput, "Fscanln": ruleOutput,
	},
}

// forbiddenMethods names methods of allowed packages' types, as
// "pkgpath.Type.Method".
var forbiddenMethods = map[string]rule{
	"time.Time.Local": ruleClock,
}

// breach is one violation, positioned for a person to find.
type breach struct {
	file   string // slash-separated, relative to the checker's base directory
	line   int
	col    int
	rule   rule
	detail string
}

func (b breach) String() string {
	return fmt.Sprintf("%s:%d:%d: %s [%s]: %s", b.file, b.line, b.col, b.detail, b.rule, why[b.rule])
}

// checker walks one core tree. Packages are type-checked from source;
// standard-library packages come from the source importer, forbidden imports
// from empty stand-ins (their use is already a breach).
type checker struct {
	baseDir      string // positions are reported relative to this
	coreDir      string // the tree to check
	corePath     string // import path of coreDir
	mapRangeFile string // the one file, relative to coreDir, allowed to range over maps

	fset     *token.FileSet
	std      types.Importer
	checked  map[string]*types.Package // core packages by directory
	checking map[string]bool           // import-cycle guard
	// typeErrors holds the first type error of each package that did not
	// type-check; the checks that need types (map ranges) may miss there.
	typeErrors map[string]error
	breaches   []breach
	seen       map[breach]bool
}

// The standard library is type-checked from source once per test binary and
// shared by every checker (it dominates the run time).
var (
	sharedFset *token.FileSet
	sharedStd  types.Importer
)

func newChecker(baseDir, coreDir, corePath, mapRangeFile string) *checker {
	if sharedFset == nil {
		sharedFset = token.NewFileSet()
		sharedStd = importer.ForCompiler(sharedFset, "source", nil)
	}
	return &checker{
		baseDir:      baseDir,
		coreDir:      coreDir,
		corePath:     corePath,
		mapRangeFile: mapRangeFile,
		fset:         sharedFset,
		std:          sharedStd,
		checked:      map[string]*types.Package{},
		checking:     map[string]bool{},
		typeErrors:   map[string]error{},
		seen:         map[breach]bool{},
	}
}

// run checks every package under coreDir and returns the breaches sorted by
// position.
func (c *checker) run() ([]breach, error) {
	dirs, err := packageDirs(c.coreDir)
	if err != nil {
		return nil, err
	}
	for _, dir := range dirs {
		if _, err := c.checkDir(dir); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(c.breaches, func(a, b breach) int {
		return cmp.Or(cmp.Compare(a.file, b.file), cmp.Compare(a.line, b.line),
			cmp.Compare(a.col, b.col), cmp.Compare(a.rule, b.rule))
	})
	return c.breaches, nil
}

// packageDirs lists every directory under root holding a non-test .go file,
// skipping what the go tool skips (testdata, vendor, names starting with
// "." or "_").
func packageDirs(root string) ([]string, error) {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (name == "testdata" || name == "vendor" ||
				strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if isSourceFile(d.Name()) {
			if dir := filepath.Dir(path); !slices.Contains(dirs, dir) {
				dirs = append(dirs, dir)
			}
		}
		return nil
	})
	return dirs, err
}

func isSourceFile(name string) bool {
	return strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") &&
		!strings.HasPrefix(name, ".") && !strings.HasPrefix(name, "_")
}

// Import resolves core packages from source within the tree, allowed
// standard-library packages through the source importer, and anything else
// to an empty stand-in.
func (c *checker) Import(path string) (*types.Package, error) {
	if path == c.corePath || strings.HasPrefix(path, c.corePath+"/") {
		dir := filepath.Join(c.coreDir, filepath.FromSlash(strings.TrimPrefix(path, c.corePath)))
		return c.checkDir(dir)
	}
	if pureStdlib[path] {
		return c.std.Import(path)
	}
	return standIn(path), nil
}

func standIn(path string) *types.Package {
	name := path[strings.LastIndex(path, "/")+1:]
	if i := strings.IndexAny(name, ".-"); i > 0 {
		name = name[:i]
	}
	pkg := types.NewPackage(path, name)
	pkg.MarkComplete()
	return pkg
}

// checkDir parses and type-checks the package in dir once and records its
// breaches. Type errors are ignored: an unfinished package still gets every
// check that does not need the types that failed.
func (c *checker) checkDir(dir string) (*types.Package, error) {
	if pkg, ok := c.checked[dir]; ok {
		return pkg, nil
	}
	if c.checking[dir] {
		return nil, fmt.Errorf("import cycle through %s", dir)
	}
	c.checking[dir] = true
	defer delete(c.checking, dir)

	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, e := range entries {
		if e.IsDir() || !isSourceFile(e.Name()) {
			continue
		}
		f, err := parser.ParseFile(c.fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if f == nil {
			return nil, err
		}
		// A file with syntax errors is still checked as far as it parsed.
		files = append(files, f)
	}
	info := &types.Info{
		Types: map[ast.Expr]types.TypeAndValue{},
		Uses:  map[*ast.Ident]types.Object{},
	}
	conf := types.Config{Importer: c, Error: func(err error) {
		if c.typeErrors[dir] == nil {
			c.typeErrors[dir] = err
		}
	}}
	path := c.corePath
	if rel, err := filepath.Rel(c.coreDir, dir); err == nil && rel != "." {
		path += "/" + filepath.ToSlash(rel)
	}
	pkg, _ := conf.Check(path, c.fset, files, info)
	c.checked[dir] = pkg
	for _, f := range files {
		c.checkFile(f, info)
	}
	return pkg, nil
}

func (c *checker) report(n ast.Node, r rule, detail string) {
	pos := c.fset.Position(n.Pos())
	file := pos.Filename
	if rel, err := filepath.Rel(c.baseDir, file); err == nil {
		file = filepath.ToSlash(rel)
	}
	b := breach{file: file, line: pos.Line, col: pos.Column, rule: r, detail: detail}
	if !c.seen[b] {
		c.seen[b] = true
		c.breaches = append(c.breaches, b)
	}
}

func (c *checker) checkFile(f *ast.File, info *types.Info) {
	for _, spec := range f.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			continue
		}
		if path != c.corePath && !strings.HasPrefix(path, c.corePath+"/") && !pureStdlib[path] {
			c.report(spec, ruleImport, "imports "+strconv.Quote(path))
		}
	}
	mayRangeMaps := false
	if rel, err := filepath.Rel(c.coreDir, c.fset.Position(f.Pos()).Filename); err == nil {
		mayRangeMaps = filepath.ToSlash(rel) == c.mapRangeFile
	}

	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.ImportSpec:
			return false
		case *ast.GoStmt:
			c.report(n, ruleGo, "starts a goroutine")
		case *ast.SelectStmt:
			c.report(n, ruleSelect, "select statement")
		case *ast.ChanType:
			c.report(n, ruleChannel, "channel type")
		case *ast.SendStmt:
			c.report(n, ruleChannel, "sends on a channel")
		case *ast.UnaryExpr:
			if n.Op == token.ARROW {
				c.report(n, ruleChannel, "receives from a channel")
			}
		case *ast.RangeStmt:
			switch under(info.TypeOf(n.X)).(type) {
			case *types.Map:
				if !mayRangeMaps {
					c.report(n, ruleMapRange, "ranges over a map")
				}
			case *types.Chan:
				c.report(n, ruleChannel, "ranges over a channel")
			}
		case *ast.CallExpr:
			if id, ok := ast.Unparen(n.Fun).(*ast.Ident); ok {
				if b, ok := info.Uses[id].(*types.Builtin); ok {
					switch b.Name() {
					case "close":
						c.report(n, ruleChannel, "closes a channel")
					case "print", "println":
						c.report(n, ruleOutput, "calls the builtin "+b.Name()+", which writes to standard error")
					}
				}
			}
		case *ast.SelectorExpr:
			// Seen through the import name, so the check holds even where
			// type-checking failed; the types path below covers dot imports.
			if x, ok := n.X.(*ast.Ident); ok {
				if pn, ok := info.Uses[x].(*types.PkgName); ok {
					c.checkQualified(n.Sel, pn.Imported().Path(), n.Sel.Name)
				}
			}
		case *ast.Ident:
			switch obj := info.Uses[n].(type) {
			case *types.Func:
				if obj.Pkg() == nil {
					break
				}
				sig, _ := obj.Type().(*types.Signature)
				if sig != nil && sig.Recv() != nil {
					if named := receiverNamed(sig.Recv().Type()); named != nil {
						key := obj.Pkg().Path() + "." + named.Obj().Name() + "." + obj.Name()
						if r, ok := forbiddenMethods[key]; ok {
							c.report(n, r, "calls ("+obj.Pkg().Path()+"."+named.Obj().Name()+")."+obj.Name())
						}
					}
					break
				}
				c.checkQualified(n, obj.Pkg().Path(), obj.Name())
			case *types.Var:
				if obj.Pkg() != nil && obj.Parent() == obj.Pkg().Scope() {
					c.checkQualified(n, obj.Pkg().Path(), obj.Name())
				}
			}
		}
		return true
	})
}

func (c *checker) checkQualified(n ast.Node, pkgPath, name string) {
	if r, ok := forbiddenFuncs[pkgPath][name]; ok {
		c.report(n, r, "uses "+pkgPath+"."+name)
	}
}

// under is t's underlying type. For a type parameter it is the underlying
// type its constraint allows, when every allowed type is a map (or every one
// a channel), so that ranging over m in func F[M ~map[K]V](m M) counts as
// ranging over a map.
func under(t types.Type) types.Type {
	if t == nil {
		return nil
	}
	tp, ok := t.(*types.TypeParam)
	if !ok {
		return t.Underlying()
	}
	terms := constraintTerms(tp.Constraint())
	if len(terms) == 0 {
		return nil
	}
	for _, term := range terms[1:] {
		if shape(term) != shape(terms[0]) {
			return nil
		}
	}
	return terms[0]
}

// constraintTerms lists the underlying types a constraint admits.
func constraintTerms(t types.Type) []types.Type {
	iface, ok := t.Underlying().(*types.Interface)
	if !ok {
		return []types.Type{under(t)}
	}
	var out []types.Type
	for i := range iface.NumEmbeddeds() {
		switch e := iface.EmbeddedType(i).(type) {
		case *types.Union:
			for j := range e.Len() {
				out = append(out, under(e.Term(j).Type()))
			}
		default:
			out = append(out, constraintTerms(e)...)
		}
	}
	return out
}

func shape(t types.Type) string {
	switch t.(type) {
	case *types.Map:
		return "map"
	case *types.Chan:
		return "chan"
	}
	return "other"
}

func receiverNamed(t types.Type) *types.Named {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, _ := t.(*types.Named)
	return n
}
