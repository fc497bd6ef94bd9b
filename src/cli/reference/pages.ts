/**
 * Man pages and shell completion, generated from the same commander
 * definitions `--help` prints, so they cannot drift from the options: one
 * page per command (`halfopen(1)`, `halfopen-watch(1)`, `halfopen-incidents-show(1)`,
 * ...), and a bash completion function (zsh loads it through bashcompinit).
 * Pure: takes the built program, returns text.
 */
import type { Command, Option } from "commander";

/** Every command under `program`, with its full name ("incidents show"). */
export function commandsOf(program: Command, prefix = ""): { name: string; cmd: Command }[] {
  return program.commands.flatMap((cmd) => {
    const name = `${prefix}${cmd.name()}`;
    return [{ name, cmd }, ...commandsOf(cmd, `${name} `)];
  });
}

/** roff with its special characters escaped (a leading dot or quote would be a request). */
function roff(text: string): string {
  return text
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .split("\n")
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join("\n");
}

/** What `--help` prints after the options (examples, notes), as the command's own help sees it. */
function helpAfter(cmd: Command): string {
  let out = "";
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  const base = cmd.helpInformation();
  const i = out.indexOf(base);
  return (i >= 0 ? out.slice(i + base.length) : "").trim();
}

function optionLine(o: Option): string {
  const def = o.defaultValue === undefined || o.negate || typeof o.defaultValue === "boolean" ? "" : ` (default: ${JSON.stringify(o.defaultValue)})`;
  return `.TP\n.B ${roff(o.flags)}\n${roff(`${o.description}${def}`)}`;
}

/** The man page of one command (`name` "" for halfopen itself), in man(7) roff. */
export function manPage(name: string, cmd: Command, version: string, date: string): string {
  const title = name === "" ? "halfopen" : `halfopen-${name.replace(/ /g, "-")}`;
  const subs = cmd.commands.map((c) => `.TP\n.B ${roff(`${name === "" ? "" : `${name} `}${c.name()}`)}\n${roff(c.description())}; see \\fB${roff(`${title}-${c.name()}`)}\\fR(1).`);
  const after = helpAfter(cmd);
  return [
    `.TH ${roff(title.toUpperCase())} 1 "${date}" "halfopen ${version}" "halfopen manual"`,
    ".SH NAME",
    `${roff(title)} \\- ${roff(cmd.description())}`,
    ".SH SYNOPSIS",
    `.B halfopen${name === "" ? "" : ` ${roff(name)}`}\n${roff(cmd.usage())}`,
    ".SH DESCRIPTION",
    roff(cmd.description()),
    ...(cmd.options.length > 0 ? [".SH OPTIONS", ...cmd.options.map(optionLine)] : []),
    ...(subs.length > 0 ? [".SH COMMANDS", ...subs] : []),
    ...(after ? [".SH NOTES", ".nf", roff(after), ".fi"] : []),
    ".SH SEE ALSO",
    name === "" ? "The README and docs/ of the package." : ".BR halfopen (1)",
    "",
  ].join("\n");
}

/** Every page: file name -> text. */
export function manPages(program: Command, version: string, date: string): Map<string, string> {
  const pages = new Map<string, string>([["halfopen.1", manPage("", program, version, date)]]);
  for (const { name, cmd } of commandsOf(program)) pages.set(`halfopen-${name.replace(/ /g, "-")}.1`, manPage(name, cmd, version, date));
  return pages;
}

/** A bash completion function for `halfopen`: commands, then each command's options. */
export function bashCompletion(program: Command): string {
  const top = program.commands.map((c) => c.name());
  const cases = commandsOf(program).map(({ name, cmd }) => {
    const words = [...cmd.commands.map((c) => c.name()), ...cmd.options.flatMap((o) => [o.long, o.short].filter((x): x is string => x !== undefined)), "--help", "--width"];
    return `    "${name}") words="${[...new Set(words)].join(" ")}" ;;`;
  });
  return `# bash completion for halfopen (generated from its options: halfopen completion bash)
# zsh: autoload -U +X bashcompinit && bashcompinit, then source this.
_halfopen() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" path="" w words i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="\${COMP_WORDS[i]}"
    [[ "$w" == -* ]] && continue
    case "\${path:+$path }$w" in
${commandsOf(program).map(({ name }) => `      "${name}") path="${name}" ;;`).join("\n")}
    esac
  done
  case "$path" in
    "") words="${top.join(" ")} --help --version --width" ;;
${cases.join("\n")}
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _halfopen halfopen
`;
}
