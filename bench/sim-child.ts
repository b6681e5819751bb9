// Child process holding the benchmark's simulator (see bench/sim.ts).
import { serveOverIpc } from './sim';

serveOverIpc().catch((err: Error) => {
  console.error(`simulator child: ${err.message}`);
  process.exit(1);
});
