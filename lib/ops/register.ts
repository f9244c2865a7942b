// Connects the op families that Tensor methods reach through opsRegistry. Each family adds
// its line here when it lands.
import { opsRegistry } from '../tensor';

void opsRegistry;
