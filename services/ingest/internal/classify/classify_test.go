package classify

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type tc struct {
	name string
	code int
	dsn  string
	text string
	want Reason
}

// loadCases reads testdata/replies.tsv: real reply texts, as providers
// send them (joined the way Postfix and Exim log multi-line replies), with
// the reason each must get.
func loadCases(t testing.TB) []tc {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "replies.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	var out []tc
	for i, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.SplitN(l, "\t", 5)
		if len(f) != 5 {
			t.Fatalf("replies.tsv line %d: %d columns", i+1, len(f))
		}
		code, err := strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("replies.tsv line %d: code %q", i+1, f[2])
		}
		want := Reason(f[0])
		if f[0] == "-" {
			want = None
		}
		if !want.Valid() {
			t.Fatalf("replies.tsv line %d: reason %q", i+1, f[0])
		}
		out = append(out, tc{name: f[1], code: code, dsn: f[3], text: f[4], want: want})
	}
	return out
}

func TestClassify(t *testing.T) {
	cases := loadCases(t)
	seen := map[Reason]int{}
	for _, c := range cases {
		t.Run(string(c.want)+"/"+c.name, func(t *testing.T) {
			if got := Classify(c.code, c.dsn, c.text); got != c.want {
				t.Errorf("Classify(%d, %q, %q) = %q, want %q", c.code, c.dsn, c.text, got, c.want)
			}
		})
		seen[c.want]++
	}
	for _, r := range append(Reasons(), None) {
		if seen[r] < 3 {
			t.Errorf("reason %q has %d test replies, want at least 3", r, seen[r])
		}
	}
}

// TestCodeInText checks that a reply whose code and enhanced code are still
// in the text classifies the same as the parsed reply.
func TestCodeInText(t *testing.T) {
	for _, c := range loadCases(t) {
		if c.code == 0 || c.dsn == "" || c.want == None {
			continue
		}
		full := itoa(c.code) + " " + c.dsn + " " + c.text
		if got := Classify(0, "", full); got != c.want {
			t.Errorf("%s: Classify(0, \"\", %q) = %q, want %q", c.name, full, got, c.want)
		}
	}
}

func itoa(n int) string {
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

func TestReasonValid(t *testing.T) {
	for _, r := range Reasons() {
		if !r.Valid() || r == None {
			t.Errorf("%q", r)
		}
	}
	if Reason("bogus").Valid() {
		t.Error("bogus reason valid")
	}
}

func TestNormalize(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"550-5.1.1 The email account\r\n550-5.1.1 that you", "the email account that you"},
		{"Has an SPF record with a 550-5.7.26 hard fail", "has an spf record with a hard fail"},
		{"421 4.7.0 [TSS04]  Messages", "[tss04] messages"},
		{"sent 550 times", "sent 550 times"},
		{"550-", ""},
	} {
		var buf [maxText]byte
		if got := string(normalize(buf[:0], c.in)); got != c.want {
			t.Errorf("normalize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestParseDSN(t *testing.T) {
	for _, c := range []struct {
		in      string
		c, s, d int
		ok      bool
	}{
		{"5.1.1", 5, 1, 1, true}, {"4.7.650", 4, 7, 650, true}, {"5.1.10", 5, 1, 10, true},
		{"2.0.0", 2, 0, 0, true}, {"5.1", 0, 0, 0, false}, {"6.1.1", 0, 0, 0, false},
		{"5.1.1.", 0, 0, 0, false}, {"", 0, 0, 0, false}, {"5.1.1234", 0, 0, 0, false},
	} {
		c2, s, d, ok := parseDSN(c.in)
		if c2 != c.c || s != c.s || d != c.d || ok != c.ok {
			t.Errorf("parseDSN(%q) = %d %d %d %v", c.in, c2, s, d, ok)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	text := loadCases(t)[4].text
	if n := testing.AllocsPerRun(100, func() { Classify(550, "5.1.1", text) }); n != 0 {
		t.Errorf("Classify allocates %.0f times", n)
	}
	long := strings.Repeat("x", 5000) + " user unknown"
	if got := Classify(550, "", long); got != Other {
		t.Errorf("phrase beyond %d bytes: got %q", maxText, got)
	}
}

func BenchmarkClassify(b *testing.B) {
	cases := loadCases(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := &cases[i%len(cases)]
		Classify(c.code, c.dsn, c.text)
	}
}

func FuzzClassify(f *testing.F) {
	for _, c := range loadCases(f) {
		f.Add(c.code, c.dsn, c.text)
	}
	f.Fuzz(func(t *testing.T, code int, dsn, text string) {
		r := Classify(code, dsn, text)
		if !r.Valid() {
			t.Fatalf("invalid reason %q", r)
		}
		if code >= 200 && code < 300 && r != None {
			t.Fatalf("2xx reply classified %q", r)
		}
		if r == None && !(code >= 200 && code < 300) && !strings.HasPrefix(dsn, "2.") && code != 0 {
			t.Fatalf("non-2xx code %d classified as success", code)
		}
	})
}
