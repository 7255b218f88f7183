package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

type embeddingsConfig struct {
	// BaseURL is the OpenAI-compatible API root, e.g. https://api.openai.com/v1.
	BaseURL    string `json:"base_url"`
	Model      string `json:"model"`
	Dimensions int    `json:"dimensions"`
	// SendDimensions asks the endpoint for that size (models that can shorten).
	SendDimensions bool `json:"send_dimensions"`
}

// embedder calls POST {base_url}/embeddings.
type embedder struct {
	cfg    embeddingsConfig
	key    string
	url    string
	client *http.Client
}

func newEmbedder(c embeddingsConfig, key string) (*embedder, error) {
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, fmt.Errorf("base_url: %q is not an http(s) URL", c.BaseURL)
	case c.Model == "":
		return nil, errors.New("model: missing")
	case c.Dimensions < 1:
		return nil, errors.New("dimensions: missing")
	}
	return &embedder{cfg: c, key: key, url: strings.TrimSuffix(c.BaseURL, "/") + "/embeddings", client: &http.Client{Timeout: 30 * time.Second}}, nil
}

// Embed returns one vector per text, in order.
func (e *embedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	req := map[string]any{"model": e.cfg.Model, "input": texts, "encoding_format": "float"}
	if e.cfg.SendDimensions {
		req["dimensions"] = e.cfg.Dimensions
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	if e.key != "" {
		hr.Header.Set("Authorization", "Bearer "+e.key)
	}
	res, err := e.client.Do(hr)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("embeddings: %s: %.200s", res.Status, b)
	}
	var out struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	vecs := make([][]float32, len(texts))
	for _, d := range out.Data {
		if d.Index < 0 || d.Index >= len(texts) || len(d.Embedding) != e.cfg.Dimensions {
			return nil, fmt.Errorf("embeddings: item %d has %d dimensions, want %d", d.Index, len(d.Embedding), e.cfg.Dimensions)
		}
		vecs[d.Index] = d.Embedding
	}
	for i, v := range vecs {
		if v == nil {
			return nil, fmt.Errorf("embeddings: no vector for input %d", i)
		}
	}
	return vecs, nil
}
