// Paths on an agent: its roots are absolute paths on its own system, which need not be this
// one's (a Windows agent's roots hold backslashes and a drive). A path is chosen as one of
// the roots and a folder under it, joined with the root's own separator.

/** The separator a root uses: "\" for a Windows path (a drive or a backslash), else "/". */
export function separatorOf(root: string): "/" | "\\" {
  return /^[A-Za-z]:[\\/]/.test(root) || root.startsWith("\\\\") || (root.includes("\\") && !root.includes("/"))
    ? "\\"
    : "/";
}

/**
 * `root` and `sub` (a folder under it, as typed: either separator, leading or trailing ones
 * ignored) as one path in the root's style. An empty `sub` is the root itself.
 */
export function joinAgentPath(root: string, sub: string): string {
  const sep = separatorOf(root);
  const parts = sub
    .split(/[\\/]+/)
    .map((p) => p.trim())
    .filter((p) => p !== "" && p !== ".");
  if (parts.length === 0) return root;
  const base = root.endsWith("/") || root.endsWith("\\") ? root.slice(0, -1) : root;
  return [base, ...parts].join(sep);
}
