package kb

import (
	"strings"
	"unicode"

	"github.com/blevesearch/bleve/v2/mapping"

	// Analyzers and filters are registered by import; only what is imported exists.
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ar"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/cjk"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ckb"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/da"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/de"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/en"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/es"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/fa"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/fi"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/fr"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/hi"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/hr"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/hu"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/it"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/nl"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/no"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/pl"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/pt"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ro"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/ru"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/sv"
	_ "github.com/blevesearch/bleve/v2/analysis/lang/tr"
	_ "github.com/blevesearch/bleve/v2/analysis/token/shingle"
	_ "github.com/blevesearch/bleve/v2/analysis/token/stop"
	_ "github.com/blevesearch/bleve/v2/analysis/tokenmap"
)

// A family is a group of languages analysed the same way; each family has its own field
// names (title_en, body_cjk…) so the analyzer used at query time is never ambiguous
// (bleve picks a field's analyzer from a map when two mappings share a field name).
//
//   - en: English, stemmed, keeping stop words: "not", "how", "my" carry the intent of a
//     support question ("card not working" vs "how do I get a card"). Word pairs
//     (shingles) reward phrasings that match in order.
//   - cjk: Chinese, Japanese, Korean: bigrams plus unigrams, so a one-character query
//     ("退") matches.
//   - the languages bleve ships an analyzer for (de, fr, es, ru…) use it.
//   - xx: anything else: Unicode words, lower-cased, no stemming.
const (
	familyEN  = "en"
	familyCJK = "cjk"
	familyXX  = "xx"
)

// bleveLanguages are the languages with a bleve analyzer of the same name.
var bleveLanguages = []string{"ar", "ckb", "da", "de", "es", "fa", "fi", "fr", "hi", "hr", "hu", "it", "nl",
	"no", "pl", "pt", "ro", "ru", "sv", "tr"}

// families lists every family, English first (the usual case).
var families = append([]string{familyEN, familyCJK, familyXX}, bleveLanguages...)

// family returns the analysis family of a BCP-47 tag.
func family(lang string) string {
	base := baseLang(lang)
	switch base {
	case "en", "":
		return familyEN
	case "zh", "ja", "ko":
		return familyCJK
	case "nb", "nn":
		return "no"
	}
	for _, l := range bleveLanguages {
		if l == base {
			return l
		}
	}
	return familyXX
}

// sharedFamily reports whether several languages share fam's fields: zh, ja and ko
// share cjk, nb, nn and no share no, and xx holds every language bleve has no analyzer
// for. Every other family's fields hold one language (an article's lang defaults to en).
func sharedFamily(fam string) bool {
	return fam == familyCJK || fam == familyXX || fam == "no"
}

// familyBases lists the primary subtags of the languages in fam; nil for xx, which
// holds any language bleve has no analyzer for.
func familyBases(fam string) []string {
	switch fam {
	case familyCJK:
		return []string{"zh", "ja", "ko"}
	case "no":
		return []string{"no", "nb", "nn"}
	case familyXX:
		return nil
	}
	return []string{fam} // en and the bleve languages: the family is named after its one language
}

// baseLang is the primary subtag of a BCP-47 tag, lower-cased ("pt-BR" → "pt").
func baseLang(lang string) string {
	base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(lang)), "-")
	base, _, _ = strings.Cut(base, "_")
	return base
}

// hasCJK reports whether s contains Han, Kana or Hangul: such a query cannot be English.
func hasCJK(s string) bool {
	for _, r := range s {
		if unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul) {
			return true
		}
	}
	return false
}

func analyzerOf(fam string) string {
	switch fam {
	case familyEN:
		return "kb_en"
	case familyCJK:
		return "kb_cjk"
	case familyXX:
		return "kb_xx"
	}
	return fam
}

// analysis tunes the English analysis; tests measure variants on banking77.
type analysis struct {
	// Stemmer is a bleve token filter ("stemmer_porter", "stemmer_en_snowball").
	Stemmer string
	// Shingles adds word pairs.
	Shingles bool
	// Stop drops the listed words (articles and the like), never intent words.
	Stop []string
	// Scoring is bleve's scoring model: "bm25" or "tf-idf".
	Scoring string
}

// defaultAnalysis is what the banking77 measurement chose (see search_eval_test.go):
// tf-idf beat BM25 by 2 points, word pairs added 2, Snowball and Porter stemming tie.
var defaultAnalysis = analysis{Stemmer: "stemmer_en_snowball", Shingles: true, Scoring: "tf-idf"}

// newMapping builds the index mapping: one text field set per family, plus keyword fields
// for filtering and stored fields for building hits without a database round trip.
func newMapping(an analysis) (*mapping.IndexMappingImpl, error) {
	im := mapping.NewIndexMapping()
	im.ScoringModel = an.Scoring
	im.DefaultAnalyzer = "kb_xx"
	if err := im.AddCustomTokenFilter("kb_cjk_bigram", map[string]any{
		"type": "cjk_bigram", "output_unigram": true}); err != nil {
		return nil, err
	}
	if err := im.AddCustomAnalyzer("kb_cjk", map[string]any{
		"type": "custom", "tokenizer": "unicode",
		"token_filters": []any{"cjk_width", "to_lower", "kb_cjk_bigram"}}); err != nil {
		return nil, err
	}
	if err := im.AddCustomAnalyzer("kb_xx", map[string]any{
		"type": "custom", "tokenizer": "unicode", "token_filters": []any{"to_lower"}}); err != nil {
		return nil, err
	}
	enFilters := []any{"possessive_en", "to_lower"}
	if len(an.Stop) > 0 {
		stop := make([]any, len(an.Stop))
		for i, w := range an.Stop {
			stop[i] = w
		}
		if err := im.AddCustomTokenMap("kb_en_stopwords", map[string]any{"type": "custom", "tokens": stop}); err != nil {
			return nil, err
		}
		if err := im.AddCustomTokenFilter("kb_en_stop", map[string]any{"type": "stop_tokens", "stop_token_map": "kb_en_stopwords"}); err != nil {
			return nil, err
		}
		enFilters = append(enFilters, "kb_en_stop")
	}
	if an.Stemmer != "" {
		enFilters = append(enFilters, an.Stemmer)
	}
	if an.Shingles {
		if err := im.AddCustomTokenFilter("kb_shingle", map[string]any{
			"type": "shingle", "min": 2.0, "max": 2.0, "output_original": true}); err != nil {
			return nil, err
		}
		enFilters = append(enFilters, "kb_shingle")
	}
	if err := im.AddCustomAnalyzer("kb_en", map[string]any{
		"type": "custom", "tokenizer": "unicode", "token_filters": enFilters}); err != nil {
		return nil, err
	}

	dm := mapping.NewDocumentStaticMapping()
	keyword := func(store bool) *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store = store
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		return f
	}
	storedOnly := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Index = false
		f.Store = true
		f.IncludeInAll = false
		f.IncludeTermVectors = false
		f.DocValues = false
		return f
	}
	dm.AddFieldMappingsAt(fArticle, keyword(true))
	dm.AddFieldMappingsAt(fLang, keyword(true))
	dm.AddFieldMappingsAt(fBase, keyword(false))
	dm.AddFieldMappingsAt(fStatus, keyword(true))
	dm.AddFieldMappingsAt(fTag, keyword(false))
	dm.AddFieldMappingsAt(fTeam, keyword(true))
	dm.AddFieldMappingsAt(fEscalate, storedOnly())
	dm.AddFieldMappingsAt(fNQ, storedOnly())
	dm.AddFieldMappingsAt(fName, storedOnly())
	for _, fam := range families {
		for _, name := range []string{fBody, fQuestions} {
			f := mapping.NewTextFieldMapping()
			f.Analyzer = analyzerOf(fam)
			// Stored with term vectors: hits name the best question and snippets mark
			// the matched words without analysing the text again.
			f.Store = true
			f.IncludeTermVectors = true
			f.IncludeInAll = false
			f.DocValues = false
			dm.AddFieldMappingsAt(name+"_"+fam, f)
		}
	}
	im.DefaultMapping = dm
	im.DefaultField = ""
	return im, nil
}

// Index field names. Text fields get a "_<family>" suffix.
const (
	fArticle   = "article"  // article id
	fLang      = "lang"     // the article's tag, lower-cased
	fBase      = "base"     // its primary subtag
	fStatus    = "status"   // draft, published
	fTag       = "tag"      // tags as keywords (filters)
	fName      = "name"     // the title, stored for hits
	fTeam      = "team"     // stored for hits
	fEscalate  = "escalate" // stored for hits
	fNQ        = "nq"       // how many sample questions an article has
	fBody      = "body"
	fQuestions = "q" // the phrasings: title, sample questions, tags
)
