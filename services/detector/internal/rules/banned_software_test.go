package rules

import "testing"

func TestSignatures(t *testing.T) {
	sigs, err := builtinSignatures()
	if err != nil {
		t.Fatal(err)
	}
	if len(sigs) != 8 {
		t.Fatalf("%d built-in signatures, want the 8 of data/v2board.tsv", len(sigs))
	}
	r := &bannedSoftware{sigs: sigs}
	for subj, want := range map[string]bool{
		"V2BoardEmail verification code":                   true,
		"FastVPNEmail verification code":                   true,
		"=?UTF-8?B?6Zeq55S15Yqg6YCf6YKu566x6aqM6K+B56CB?=": true, // 闪电加速邮箱验证码
		"The traffic usage in FastVPN has reached 80%":     true,
		"在 闪电加速 的服务即将到期":                                   true,
		"您在闪电加速的工单得到了回复":                                   true,
		"This is v2board test email":                       true,
		"  This is v2board test email ":                    true,
		"Your Email verification code":                     false, // white space before the phrase
		"Email verification code":                          false, // no app name
		"The traffic usage in  has reached 80%":            false,
		"The service in  Acme is about to expire":          false,
		"Login to FastVPN":                                 false, // left out on purpose
		"Re: FastVPNEmail verification code":               true,  // an app name is anything the panel was given
	} {
		if got := r.Filter(&Input{Event: ev(subj)}); got != want {
			t.Errorf("%q: match %v, want %v", subj, got, want)
		}
	}
	for _, bad := range []string{"", "{app}", "{app}x{app}", "a\nb"} {
		if _, err := parseSignature(bad, "config"); err == nil {
			t.Errorf("signature %q accepted", bad)
		}
	}
}
