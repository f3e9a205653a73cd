/**
 * What the chunker needs to know of each grammar: which nodes define a symbol (and what to call
 * it), which definitions hold others (a class's methods), which nodes are comments, which belong
 * to the definition after them (decorators, attributes), and whether docstrings are the doc.
 * Node types are tree-sitter's, as the grammars of @vscode/tree-sitter-wasm 0.3 name them.
 */
import type { SyntaxNode } from './types';

/** A definition found in the tree. */
export interface Definition {
    /** What it is, as a reader would say it: `class`, `function`, `def`, `interface`, `impl`, ... */
    readonly keyword: string;
    /** Its name as written (`Foo`, `ns::K::m`, `Trait for S`), on one line. */
    readonly name: string;
    /** The node holding its members, for definitions that hold definitions (a class body). */
    readonly members?: SyntaxNode;
    /** The name its members are qualified with (`Foo` for `Foo.bar`; an impl's type). */
    readonly memberPrefix?: string;
    /** Its body (statements or members): the rows before it are its header, kept together. */
    readonly body?: SyntaxNode;
    /** The node itself, inside any wrapper (export, decorators, template). */
    readonly node: SyntaxNode;
}

export interface LanguageRules {
    readonly comments: ReadonlySet<string>;
    /** Nodes that belong to the definition after them: decorators, attributes. */
    readonly attached: ReadonlySet<string>;
    /** The first string statement of a definition's body is its doc (Python). */
    readonly docstrings: boolean;
    /** The definition `node` makes, looking inside wrappers; undefined when it defines nothing. */
    definition(node: SyntaxNode): Definition | undefined;
}

/** How a node type defines: its keyword, where its name is, where its members are. */
interface Rule {
    readonly keyword: string;
    /** The name: a field (default `name`) or a function of the node. */
    readonly name?: string | ((node: SyntaxNode) => string | undefined);
    /** The field holding its members (it holds definitions). */
    readonly members?: string;
    /** The field holding its body (default: `members`, else `body`). */
    readonly body?: string;
    /** The prefix for its members' symbols (default: its name). */
    readonly memberPrefix?: (node: SyntaxNode) => string | undefined;
}

/** Longest name kept in a symbol, characters. */
const MAX_NAME = 80;

function oneLine(text: string | undefined): string | undefined {
    if (text === undefined) return undefined;
    const s = text.replace(/\s+/g, ' ').trim();
    if (!s) return undefined;
    return s.length > MAX_NAME ? `${s.slice(0, MAX_NAME - 1)}…` : s;
}

function field(node: SyntaxNode, name: string): SyntaxNode | undefined {
    return node.childForField(name);
}

function named(node: SyntaxNode): SyntaxNode[] {
    return node.children.filter((c) => c.isNamed);
}

function build(node: SyntaxNode, rule: Rule): Definition | undefined {
    const name = oneLine(typeof rule.name === 'function' ? rule.name(node) : field(node, rule.name ?? 'name')?.text);
    if (!name) return undefined;
    const members = rule.members ? field(node, rule.members) : undefined;
    const body = field(node, rule.body ?? rule.members ?? 'body');
    return { keyword: rule.keyword, name, members, memberPrefix: members ? (oneLine(rule.memberPrefix?.(node)) ?? name) : undefined, body, node };
}

/** Rules from a table, plus wrappers to look inside and special cases. */
function rules(
    table: Readonly<Record<string, Rule>>,
    options: {
        readonly comments?: readonly string[];
        readonly attached?: readonly string[];
        readonly docstrings?: boolean;
        /** Wrapper node -> the node inside it to look at. */
        readonly unwrap?: (node: SyntaxNode) => SyntaxNode | undefined;
        /** Definitions the table cannot express. */
        readonly special?: (node: SyntaxNode) => Definition | undefined;
    } = {},
): LanguageRules {
    const definition = (node: SyntaxNode, depth = 0): Definition | undefined => {
        const rule = table[node.type];
        if (rule) return build(node, rule);
        const special = options.special?.(node);
        if (special) return special;
        const inner = depth < 3 ? options.unwrap?.(node) : undefined;
        return inner ? definition(inner, depth + 1) : undefined;
    };
    return {
        comments: new Set(options.comments ?? ['comment']),
        attached: new Set(options.attached ?? []),
        docstrings: options.docstrings ?? false,
        definition: (node) => definition(node),
    };
}

// --- TypeScript, TSX, JavaScript -------------------------------------------------------------

const FUNCTION_VALUES = new Set(['arrow_function', 'function_expression', 'function', 'generator_function']);
const CLASS_VALUES = new Set(['class']);

const JS_TABLE: Record<string, Rule> = {
    function_declaration: { keyword: 'function' },
    generator_function_declaration: { keyword: 'function' },
    class_declaration: { keyword: 'class', members: 'body' },
    abstract_class_declaration: { keyword: 'class', members: 'body' },
    interface_declaration: { keyword: 'interface', members: 'body' },
    enum_declaration: { keyword: 'enum', members: 'body' },
    internal_module: { keyword: 'namespace', members: 'body' },
    module: { keyword: 'module', members: 'body' },
    type_alias_declaration: { keyword: 'type', body: 'value' },
    method_definition: { keyword: 'method' },
};

/** `const f = () => ...`, `let C = class {}`, `x.y = function () {}`, a class field holding an arrow function. */
function jsSpecial(node: SyntaxNode): Definition | undefined {
    if (node.type === 'lexical_declaration' || node.type === 'variable_declaration') {
        const declarators = named(node).filter((c) => c.type === 'variable_declarator');
        if (declarators.length !== 1) return undefined;
        return valueDefinition(node, field(declarators[0], 'name')?.text, field(declarators[0], 'value'));
    }
    if (node.type === 'public_field_definition' || node.type === 'field_definition') {
        return valueDefinition(node, (field(node, 'name') ?? field(node, 'property'))?.text, field(node, 'value'));
    }
    if (node.type === 'expression_statement') {
        const inner = named(node)[0];
        if (inner?.type === 'assignment_expression') return valueDefinition(node, field(inner, 'left')?.text, field(inner, 'right'));
    }
    return undefined;
}

function valueDefinition(node: SyntaxNode, rawName: string | undefined, value: SyntaxNode | undefined): Definition | undefined {
    const name = oneLine(rawName);
    if (!name || !value) return undefined;
    if (FUNCTION_VALUES.has(value.type)) return { keyword: 'function', name, body: field(value, 'body'), node };
    if (CLASS_VALUES.has(value.type)) {
        const members = field(value, 'body');
        return { keyword: 'class', name, members, memberPrefix: name, body: members, node };
    }
    return undefined;
}

function jsUnwrap(node: SyntaxNode): SyntaxNode | undefined {
    if (node.type === 'export_statement') {
        const inner = field(node, 'declaration') ?? field(node, 'value');
        // `export default function () {}`: a definition without a name is called `default`.
        if (inner && (inner.type === 'function_expression' || inner.type === 'class' || inner.type === 'arrow_function')) return undefined;
        return inner;
    }
    if (node.type === 'expression_statement' || node.type === 'ambient_declaration') {
        const inner = named(node)[0];
        return inner && (inner.type === 'internal_module' || inner.type === 'module' || inner.type in JS_TABLE) ? inner : undefined;
    }
    return undefined;
}

/** `export default function name() {}` is `name`; without a name, `default`. */
function jsDefaultExport(node: SyntaxNode): Definition | undefined {
    if (node.type !== 'export_statement') return jsSpecial(node);
    const value = field(node, 'value');
    return value ? valueDefinition(node, field(value, 'name')?.text ?? 'default', value) : undefined;
}

const JAVASCRIPT = rules(JS_TABLE, { attached: ['decorator'], unwrap: jsUnwrap, special: jsDefaultExport });

// --- Python ------------------------------------------------------------------------------------

const PYTHON = rules(
    {
        function_definition: { keyword: 'def' },
        class_definition: { keyword: 'class', members: 'body' },
    },
    { docstrings: true, unwrap: (n) => (n.type === 'decorated_definition' ? field(n, 'definition') : undefined) },
);

// --- Go ----------------------------------------------------------------------------------------

/** `func (f *Foo) Bar()` is `Foo.Bar`. */
function goMethodName(node: SyntaxNode): string | undefined {
    const name = field(node, 'name')?.text;
    const receiver = field(node, 'receiver');
    const type = receiver?.text.match(/([A-Za-z_]\w*)(?:\[[^\]]*\])?\s*\)\s*$/)?.[1];
    return name && type ? `${type}.${name}` : name;
}

const GO = rules({
    function_declaration: { keyword: 'func' },
    method_declaration: { keyword: 'func', name: goMethodName },
    type_declaration: { keyword: 'type', name: (n) => named(n).map((s) => field(s, 'name')?.text).filter(Boolean).join(', ') },
});

// --- Rust --------------------------------------------------------------------------------------

/** The type an impl is for, without generics: `impl<T> Trait for S<T>` -> `S`. */
function implType(node: SyntaxNode): string | undefined {
    return field(node, 'type')?.text.replace(/<[\s\S]*$/, '');
}

const RUST = rules(
    {
        function_item: { keyword: 'fn' },
        function_signature_item: { keyword: 'fn' },
        struct_item: { keyword: 'struct' },
        enum_item: { keyword: 'enum' },
        union_item: { keyword: 'union' },
        type_item: { keyword: 'type' },
        trait_item: { keyword: 'trait', members: 'body' },
        impl_item: {
            keyword: 'impl',
            members: 'body',
            name: (n) => {
                const trait = field(n, 'trait')?.text;
                const type = field(n, 'type')?.text;
                return trait && type ? `${trait} for ${type}` : type;
            },
            memberPrefix: implType,
        },
        mod_item: { keyword: 'mod', members: 'body' },
        macro_definition: { keyword: 'macro_rules!' },
    },
    { comments: ['line_comment', 'block_comment'], attached: ['attribute_item'] },
);

// --- Java, C# ----------------------------------------------------------------------------------

const JAVA = rules(
    {
        class_declaration: { keyword: 'class', members: 'body' },
        interface_declaration: { keyword: 'interface', members: 'body' },
        enum_declaration: { keyword: 'enum', members: 'body' },
        record_declaration: { keyword: 'record', members: 'body' },
        annotation_type_declaration: { keyword: '@interface', members: 'body' },
        method_declaration: { keyword: 'method' },
        constructor_declaration: { keyword: 'constructor' },
    },
    { comments: ['line_comment', 'block_comment'] },
);

const CSHARP = rules({
    namespace_declaration: { keyword: 'namespace', members: 'body' },
    class_declaration: { keyword: 'class', members: 'body' },
    struct_declaration: { keyword: 'struct', members: 'body' },
    interface_declaration: { keyword: 'interface', members: 'body' },
    record_declaration: { keyword: 'record', members: 'body' },
    enum_declaration: { keyword: 'enum', members: 'body' },
    method_declaration: { keyword: 'method' },
    constructor_declaration: { keyword: 'constructor' },
    property_declaration: { keyword: 'property' },
    local_function_statement: { keyword: 'function' },
});

// --- C, C++ ------------------------------------------------------------------------------------

/** The declared name inside a declarator chain: `int *ns::K::m(int)` -> `ns::K::m`, `double& at(int)` -> `at`. */
function declaratorName(node: SyntaxNode): string | undefined {
    let d = field(node, 'declarator');
    for (let i = 0; d && i < 8; i++) {
        if (d.type === 'function_declarator') return field(d, 'declarator')?.text;
        if (/identifier$|^(?:operator|destructor)_name$/.test(d.type)) return d.text;
        // Pointer and reference declarators hold the next one in a field, or as a plain child.
        d = field(d, 'declarator') ?? named(d).find((c) => c.type.endsWith('declarator'));
    }
    return undefined;
}

const CPP = rules(
    {
        function_definition: { keyword: 'function', name: declaratorName },
        class_specifier: { keyword: 'class', members: 'body' },
        struct_specifier: { keyword: 'struct', members: 'body' },
        union_specifier: { keyword: 'union', members: 'body' },
        enum_specifier: { keyword: 'enum' },
        namespace_definition: { keyword: 'namespace', members: 'body' },
    },
    {
        // `template <...> T f()`: the definition inside; a struct without a body declares nothing.
        unwrap: (n) => (n.type === 'template_declaration' ? named(n).find((c) => c.type !== 'template_parameter_list') : undefined),
    },
);

// --- Ruby, PHP, shell --------------------------------------------------------------------------

const RUBY = rules({
    method: { keyword: 'def' },
    singleton_method: { keyword: 'def', name: (n) => `${field(n, 'object')?.text ?? 'self'}.${field(n, 'name')?.text ?? ''}` },
    class: { keyword: 'class', members: 'body' },
    module: { keyword: 'module', members: 'body' },
});

const PHP = rules({
    function_definition: { keyword: 'function' },
    method_declaration: { keyword: 'function' },
    class_declaration: { keyword: 'class', members: 'body' },
    interface_declaration: { keyword: 'interface', members: 'body' },
    trait_declaration: { keyword: 'trait', members: 'body' },
    enum_declaration: { keyword: 'enum', members: 'body' },
    namespace_definition: { keyword: 'namespace', members: 'body' },
});

const SHELL = rules({ function_definition: { keyword: 'function' } });

/** VS Code language id -> its rules (the parser decides which of these it has a grammar for). */
export const LANGUAGE_RULES: ReadonlyMap<string, LanguageRules> = new Map([
    ['typescript', JAVASCRIPT],
    ['typescriptreact', JAVASCRIPT],
    ['javascript', JAVASCRIPT],
    ['javascriptreact', JAVASCRIPT],
    ['python', PYTHON],
    ['go', GO],
    ['rust', RUST],
    ['java', JAVA],
    ['csharp', CSHARP],
    ['cpp', CPP],
    ['c', CPP],
    ['ruby', RUBY],
    ['php', PHP],
    ['shellscript', SHELL],
]);
