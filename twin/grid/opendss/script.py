"""The script interpreter: OpenDSS commands into a :class:`Script` of objects and options.

:func:`interpret` runs the commands :func:`~twin.grid.opendss.lexer.read_script` yields (``New``,
``Edit``, ``~``/``More``, ``Class.name.prop=value``, ``Set``, ``BusCoords``...) into a
:class:`Script`: every object with the ordered list of its property assignments, each remembering
file and line. Nothing is converted yet; the readers replay these assignments later, in order,
because their order matters in OpenDSS.

Here are resolved:

* positional values and abbreviated names, against OpenDSS's property lists
  (:data:`~twin.grid.opendss.classes.PROPERTIES`);
* ``like=``, which copies the other object's assignments at that point;
* ``Clear`` (starts again), a bare name after ``New``/``Edit`` (of the last class used), ``Circuit``
  (the source ``Vsource.source`` and the circuit's name);
* ``Enable``/``Disable`` (an ``enabled=`` assignment), ``Open``/``Close`` (kept in
  :attr:`Script.switching`);
* ``Set voltagebases=[...]`` and the base frequency; ``CalcVoltageBases`` and ``Solve`` need
  nothing (the import always does the former, never the latter); other options and commands
  (``Show``, ``Plot``...) become a line in :attr:`Script.notes`;
* ``BusCoords``/``LatLongCoords`` files, read into :attr:`Script.coords`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from twin.errors import ParseError
from twin.grid.opendss import rpn
from twin.grid.opendss.classes import DISPLAY, IGNORED, PROPERTIES, UNSUPPORTED, resolve_property
from twin.grid.opendss.lexer import Command, Param

__all__ = ["DssObject", "Script", "Setting", "interpret"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One property assignment as written, with where it was written."""

    prop: str
    text: str
    quoted: bool
    file: str
    line: int


@dataclass
class DssObject:
    """An OpenDSS object: its class, lower-case name, label for messages and assignments."""

    cls: str
    name: str
    label: str
    file: str
    line: int
    settings: list[Setting] = field(default_factory=list)

    @property
    def where(self) -> str:
        """``file:line`` of its definition, to begin a note about it."""
        return _where(self.file, self.line)


@dataclass
class Script:
    """What a script defines: objects by class and name, options, coordinates and notes."""

    circuit: str = ""
    objects: dict[str, dict[str, DssObject]] = field(default_factory=dict)
    voltage_bases_kv: list[float] = field(default_factory=list)
    base_frequency_hz: float = 60.0
    coords: dict[str, tuple[float, float]] = field(default_factory=dict)
    switching: dict[tuple[str, str], tuple[bool, str, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def of(self, cls: str) -> list[DssObject]:
        """Objects of one class in definition order."""
        return list(self.objects.get(cls, {}).values())

    def find(self, cls: str, name: str) -> DssObject | None:
        return self.objects.get(cls, {}).get(name.lower())


def _where(file: str, line: int) -> str:
    """``file:line`` to begin a note, the file by its name only."""
    return f"{Path(file).name}:{line}"


def interpret(commands: Iterable[Command]) -> Script:
    """Run the commands of a script into a :class:`Script` (see the module docstring)."""
    script = Script()
    active: DssObject | None = None
    last_cls = ""
    for cmd in commands:
        verb = cmd.verb
        if verb == "clear":
            script, active = Script(), None
            continue
        if verb in ("new", "edit"):
            target = cmd.params[0] if cmd.params else None
            if target is None or (target.name and target.name.lower() != "object"):
                raise ParseError(f"{verb.capitalize()} needs the object first, as Class.name", file=cmd.file,
                                 line=cmd.line, element="", fix=f"write '{verb.capitalize()} Line.L1 bus1=...'")
            active = _new(script, target.text, cmd, last_cls) if verb == "new" else _existing(
                script, target.text, cmd, last_cls)
            last_cls = active.cls
            _assign(script, active, cmd.params[1:], cmd)
        elif verb in ("more", "m", "~"):
            if active is None:
                raise ParseError("'~' (More) continues no object", file=cmd.file, line=cmd.line, element="",
                                 fix="start with 'New Class.name' before the continuation lines")
            _assign(script, active, cmd.params, cmd)
        elif not verb and cmd.params and cmd.params[0].name:
            ref, _, prop = cmd.params[0].name.rpartition(".")
            if not ref:
                raise ParseError(f"'{cmd.params[0].name}={cmd.params[0].text}' is not a command", file=cmd.file,
                                 line=cmd.line, element="", fix="edit objects as Class.name.property=value")
            active = _existing(script, ref, cmd, last_cls)
            last_cls = active.cls
            first = cmd.params[0]
            _assign(script, active, (Param(prop, first.text, first.quoted), *cmd.params[1:]), cmd)
        else:
            _command(script, verb, cmd)
    return script


def _split_ref(ref: str, cmd: Command, last_cls: str) -> tuple[str, str]:
    """Class and name of ``Class.name`` (a bare name is of the last class used, as in OpenDSS)."""
    cls, dot, name = ref.partition(".")
    if not dot:
        if not last_cls:
            raise ParseError(f"'{ref}' names no class", file=cmd.file, line=cmd.line, element=ref,
                             fix="write Class.name, for example Line.L1")
        return last_cls, ref
    cls = cls.lower()
    return ("vsource", "source") if cls == "circuit" else (cls, name)


def _new(script: Script, ref: str, cmd: Command, last_cls: str) -> DssObject:
    cls, name = _split_ref(ref, cmd, last_cls)
    if ref.lower().startswith("circuit."):  # a circuit comes with its source, Vsource.source
        script.circuit = ref.partition(".")[2]
    label = f"{DISPLAY.get(cls, cls.capitalize())}.{name}"
    if cls not in PROPERTIES and cls not in IGNORED:
        if cls in UNSUPPORTED:
            raise ParseError(f"OpenDSS class '{cls}' is equipment Twin cannot represent", file=cmd.file,
                             line=cmd.line, element=label, fix="remove it or replace it by supported elements")
        raise ParseError(f"unknown element class '{cls}'", file=cmd.file, line=cmd.line, element=label,
                         fix="supported classes: " + ", ".join(DISPLAY.values()) + ", Circuit")
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=label, fix="check the brackets")
    objects = script.objects.setdefault(cls, {})
    if name.lower() in objects:
        script.notes.append(f"{_where(cmd.file, cmd.line)}: {label} defined again; the new definition replaces it")
    obj = DssObject(cls, name.lower(), label, cmd.file, cmd.line)
    objects[obj.name] = obj
    if cls in IGNORED:
        script.notes.append(f"{_where(cmd.file, cmd.line)}: {label} ignored: {IGNORED[cls]}")
    return obj


def _existing(script: Script, ref: str, cmd: Command, last_cls: str) -> DssObject:
    cls, name = _split_ref(ref, cmd, last_cls)
    obj = script.find(cls, name)
    if obj is None:
        label = f"{DISPLAY.get(cls, cls.capitalize())}.{name}"
        raise ParseError(f"{label} is not defined", file=cmd.file, line=cmd.line, element=label,
                         fix="define it with New before editing it")
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=obj.label, fix="check the brackets")
    return obj


def _assign(script: Script, obj: DssObject, params: Iterable[Param], cmd: Command) -> None:
    """Append the assignments of one command to ``obj``, resolving names and positions."""
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=obj.label, fix="check the brackets")
    if obj.cls in IGNORED:
        return
    props = PROPERTIES[obj.cls]
    pointer = -1
    for p in params:
        if p.name:
            prop = resolve_property(obj.cls, p.name)
            if prop is None:
                raise ParseError(f"unknown property '{p.name}' for {DISPLAY[obj.cls]}", file=cmd.file,
                                 line=cmd.line, element=obj.label,
                                 fix=f"{DISPLAY[obj.cls]} properties are: {', '.join(props)}")
            pointer = props.index(prop)
        else:
            pointer += 1
            if pointer >= len(props):
                raise ParseError(f"too many values: '{p.text}' follows the last property", file=cmd.file,
                                 line=cmd.line, element=obj.label, fix="name the property: prop=value")
            prop = props[pointer]
        if prop == "like":
            other = script.find(obj.cls, p.text)
            if other is None:
                raise ParseError(f"like={p.text}: {DISPLAY[obj.cls]}.{p.text} is not defined", file=cmd.file,
                                 line=cmd.line, element=obj.label, fix="define the model object first")
            obj.settings.extend(other.settings)
            continue
        obj.settings.append(Setting(prop, p.text, p.quoted, cmd.file, cmd.line))


def _command(script: Script, verb: str, cmd: Command) -> None:
    """Commands other than object definitions: options, coordinates, switching, the rest noted."""
    if cmd.problem:
        raise ParseError(cmd.problem, file=cmd.file, line=cmd.line, element=verb.capitalize(),
                         fix="check the brackets")
    if verb == "set":
        _set(script, cmd)
    elif verb in ("calcvoltagebases", "solve"):
        return
    elif verb in ("buscoords", "latlongcoords"):
        if not cmd.params:
            raise ParseError("BusCoords names no file", file=cmd.file, line=cmd.line, element="BusCoords",
                             fix="write 'BusCoords buscoords.csv'")
        _read_coords(script, cmd.folder / cmd.params[0].text.strip(), cmd)
    elif verb in ("open", "close", "disable", "enable"):
        if not cmd.params:
            raise ParseError(f"{verb.capitalize()} names no element", file=cmd.file, line=cmd.line,
                             element=verb.capitalize(), fix=f"write '{verb.capitalize()} Line.X'")
        obj = _existing(script, cmd.params[0].text, cmd, "")
        if verb in ("disable", "enable"):
            obj.settings.append(Setting("enabled", "yes" if verb == "enable" else "no", False, cmd.file, cmd.line))
        else:
            script.switching[(obj.cls, obj.name)] = (verb == "open", cmd.file, cmd.line)
    else:
        script.notes.append(f"{_where(cmd.file, cmd.line)}: command '{cmd.verb}' ignored")


def _set(script: Script, cmd: Command) -> None:
    for p in cmd.params:
        option = p.name.lower()
        try:
            if option.startswith("voltageb"):
                script.voltage_bases_kv = rpn.numbers(p.text)
            elif option in ("defaultbasefrequency", "defaultbasefreq", "basefrequency", "basefreq"):
                script.base_frequency_hz = rpn.number(p.text, quoted=p.quoted)
            else:
                script.notes.append(f"{_where(cmd.file, cmd.line)}: Set {p.name or p.text}={p.text} ignored "
                                    "(a solution or display option)")
        except ValueError as err:
            raise ParseError(f"Set {p.name}={p.text}: {err}", file=cmd.file, line=cmd.line, element="Set",
                             fix="give numbers, for example voltagebases=[115, 12.47]") from err


def _read_coords(script: Script, path: Path, cmd: Command) -> None:
    """Bus coordinates from a ``name, x, y`` file (commas or blanks; ``!`` and ``//`` comments)."""
    if not path.is_file():
        raise ParseError(f"BusCoords: file not found: {path}", file=cmd.file, line=cmd.line, element="BusCoords",
                         fix="check the name; it is relative to the folder of the script")
    with path.open(encoding="utf-8", errors="replace") as fh:
        for number, raw in enumerate(fh, start=1):
            text = raw.split("!", 1)[0].split("//", 1)[0].replace(",", " ").split()
            if not text:
                continue
            try:
                script.coords[text[0].lower()] = (float(text[1]), float(text[2]))
            except (IndexError, ValueError) as err:
                raise ParseError(f"'{raw.strip()}' is not 'bus, x, y'", file=str(path), line=number,
                                 element="BusCoords", fix="each line: bus name, x, y") from err
