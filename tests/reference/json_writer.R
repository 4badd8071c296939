# Minimal JSON writer shared by the reference scripts (no R package needed).
num <- function(x) {
  ifelse(is.na(x) | !is.finite(x), "null", sprintf("%.17g", x))
}
to_json <- function(x) {
  if (is.null(x)) return("null")
  if (is.list(x)) {
    nm <- names(x)
    items <- vapply(x, to_json, character(1))
    if (is.null(nm)) return(paste0("[", paste(items, collapse = ","), "]"))
    return(paste0("{", paste(sprintf("\"%s\":%s", nm, items), collapse = ","), "}"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (is.character(x)) {
    s <- sprintf("\"%s\"", gsub("\"", "\\\\\"", x))
    return(if (length(x) == 1) s else paste0("[", paste(s, collapse = ","), "]"))
  }
  if (is.logical(x)) {
    s <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
    return(if (length(x) == 1) s else paste0("[", paste(s, collapse = ","), "]"))
  }
  x <- as.numeric(x)
  if (length(x) == 1) return(num(x))
  paste0("[", paste(num(x), collapse = ","), "]")
}
vec <- function(x) as.list(as.numeric(x))  # always a JSON array, even for length 1
