package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

func main() {
	counts := map[string]int{}
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		for _, word := range strings.Fields(scanner.Text()) {
			counts[strings.ToLower(word)]++
		}
	}
	for word, n := range counts {
		fmt.Printf("%6d %s\n", n, word)
	}
}
