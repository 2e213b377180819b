package core

import (
	"bufio"
	"fmt"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// mapRangeFile is the one file in core allowed to range over a map.
const mapRangeFile = "sorted/keys.go"

// fixtureCorePath is the import path the fixture trees stand in for, so
// fixtures import each other exactly as core packages do.
const fixtureCorePath = "github.com/annal-db/annal/core"

// TestCoreIsDeterministic checks every non-test file of every package under
// core against the determinism rule (see doc.go).
func TestCoreIsDeterministic(t *testing.T) {
	coreDir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	moduleRoot := filepath.Dir(coreDir)
	modulePath, err := readModulePath(filepath.Join(moduleRoot, "go.mod"))
	if err != nil {
		t.Fatalf("cannot find the module path to tell core imports from others: %v", err)
	}
	c := newChecker(moduleRoot, coreDir, modulePath+"/core", mapRangeFile)
	breaches, err := c.run()
	if err != nil {
		t.Fatalf("cannot check core: %v", err)
	}

	// A checker that walked nothing would pass forever: make sure it saw
	// the packages every node depends on.
	for _, pkg := range []string{"env", "sorted"} {
		if _, ok := c.checked[filepath.Join(coreDir, pkg)]; !ok {
			t.Errorf("the checker did not visit core/%s; it checked %d packages under %s", pkg, len(c.checked), coreDir)
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(c.typeErrors)) {
		rel, _ := filepath.Rel(moduleRoot, dir)
		t.Logf("note: %s does not type-check, so map ranges there may go unseen until it does: %v",
			filepath.ToSlash(rel), c.typeErrors[dir])
	}
	if len(breaches) > 0 {
		var sb strings.Builder
		for _, b := range breaches {
			sb.WriteString("\n  " + b.String())
		}
		t.Errorf("core must stay deterministic so that a seed replays a run exactly (core/doc.go); %d breaches:%s",
			len(breaches), sb.String())
	}
}

// TestCheckerFindsEveryBreachInFixtures proves the checker can fail: every
// line of the fixtures marked `// want "rule" ...` must be reported with
// exactly those rules, and nothing else may be.
func TestCheckerFindsEveryBreachInFixtures(t *testing.T) {
	root := filepath.Join("..", "testdata", "determinism", "breaches")
	want, err := readWants(root)
	if err != nil {
		t.Fatal(err)
	}
	covered := map[rule]bool{}
	for _, w := range want {
		covered[w.rule] = true
	}
	for _, r := range allRules {
		if !covered[r] {
			t.Errorf("no fixture under %s expects a %q breach; add one so that rule is proven to fire", root, r)
		}
	}

	breaches := runOnFixture(t, root)
	var got []wantLine
	for _, b := range breaches {
		got = append(got, wantLine{b.file, b.line, b.rule})
	}
	got = dedupe(got)
	for _, w := range want {
		if !slices.Contains(got, w) {
			t.Errorf("%s:%d: expected a %q breach, the checker reported none there", w.file, w.line, w.rule)
		}
	}
	for _, b := range breaches {
		if !slices.Contains(want, wantLine{b.file, b.line, b.rule}) {
			t.Errorf("unexpected breach (add a want comment if it is right): %s", b)
		}
	}
	for _, b := range breaches {
		if why[b.rule] == "" || !strings.Contains(b.String(), fmt.Sprintf("%s:%d:", b.file, b.line)) {
			t.Errorf("breach %q does not name its file, line and why it matters", b)
		}
	}
}

// TestCheckerPassesCleanCode: code that uses only what the rule allows
// (including look-alikes: methods named Now, a map range in the sorted-keys
// helper, breaches inside test files and testdata) reports nothing.
func TestCheckerPassesCleanCode(t *testing.T) {
	root := filepath.Join("..", "testdata", "determinism", "clean")
	for _, b := range runOnFixture(t, root) {
		t.Errorf("clean fixture reported a breach: %s", b)
	}
	want, err := readWants(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) > 0 {
		t.Fatalf("the clean fixture must not expect breaches, found %v", want)
	}
}

func runOnFixture(t *testing.T, root string) []breach {
	t.Helper()
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	c := newChecker(abs, abs, fixtureCorePath, mapRangeFile)
	breaches, err := c.run()
	if err != nil {
		t.Fatalf("checking fixture %s: %v", root, err)
	}
	if len(c.checked) < 2 {
		t.Fatalf("the checker visited %d packages under %s; the fixture has more", len(c.checked), root)
	}
	return breaches
}

type wantLine struct {
	file string
	line int
	rule rule
}

var wantComment = regexp.MustCompile(`//\s*want((?:\s+"[^"]+")+)\s*$`)
var quoted = regexp.MustCompile(`"[^"]+"`)

// readWants collects the `// want "rule" ...` comments of every Go file
// under root, test files and skipped directories included (a want there
// would be a fixture bug: the checker must not look there).
func readWants(root string) ([]wantLine, error) {
	var out []wantLine
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		// Fixtures must parse: a syntax error would hide what they test.
		if _, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution); err != nil {
			return fmt.Errorf("fixture does not parse: %w", err)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(f)
		for line := 1; sc.Scan(); line++ {
			m := wantComment.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			for _, q := range quoted.FindAllString(m[1], -1) {
				name, _ := strconv.Unquote(q)
				if !slices.Contains(allRules, rule(name)) {
					return fmt.Errorf("%s:%d: want names unknown rule %q (known: %v)", path, line, name, allRules)
				}
				out = append(out, wantLine{filepath.ToSlash(rel), line, rule(name)})
			}
		}
		return sc.Err()
	})
	return out, err
}

func dedupe(ws []wantLine) []wantLine {
	var out []wantLine
	for _, w := range ws {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func readModulePath(goMod string) (string, error) {
	data, err := os.ReadFile(goMod)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`), nil
		}
	}
	return "", fmt.Errorf("%s has no module line", goMod)
}
