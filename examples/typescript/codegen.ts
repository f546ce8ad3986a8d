import type { CodegenConfig } from "@graphql-codegen/cli";

// Types for every operation in src/, generated from the server's schema.
const config: CodegenConfig = {
  schema: "../../schema.graphqls",
  documents: ["src/**/*.ts", "!src/gql/**"],
  generates: {
    "src/gql/": {
      preset: "client",
      config: {
        scalars: { Time: "string", Upload: "File", JSON: "unknown" },
        enumsAsTypes: true,
        useTypeImports: true,
      },
    },
  },
};

export default config;
